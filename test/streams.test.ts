import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { inTransaction } from '../src/db/transaction.ts';
import { pruneEventsOlderThan } from '../src/modules/events/event-retention.repository.ts';
import { createEventRepository } from '../src/modules/events/events.repository.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { openSse, type SseEvent } from './helpers/sse-client.ts';
import { createMarket, type TestUser, trade } from './helpers/trading.ts';

/** Retries `check` until it stops throwing. */
async function until(check: () => unknown, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const ids = (events: SseEvent[]) => events.map((e) => Number(e.id));

/** Issue 13 item 2: streams that resume exactly, over real HTTP. */
for (const kind of databaseKinds()) {
  describe(`event streams (${kind})`, () => {
    let t: TestApp;
    let base: string;
    let alice: TestUser;
    let market: { id: string; slug: string };
    let other: { id: string; slug: string };

    before(async () => {
      t = await buildTestApp(kind, {
        STREAMS_PER_CLIENT: '3',
        STREAM_HEARTBEAT_MS: '300',
        // Silent sockets are closed after 2 s: only the pings keep an idle stream open.
        CONNECTION_TIMEOUT_MS: '2000',
        // A minute: events must arrive by the commit's wake-up (NOTIFY, PGlite's listen), not the poll.
        STREAM_POLL_INTERVAL_MS: '60000',
      });
      base = await t.app.listen({ host: '127.0.0.1', port: 0 });
      alice = await t.user();
      market = await createMarket(t, alice);
      other = await createMarket(t, alice);
    });
    after(() => t?.close());

    const buy = async (id: string, amount = 1) => {
      const res = await trade(t, alice, id, { outcome: 'YES', side: 'buy', amount });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().data;
    };
    const lastSeq = async () =>
      Number(
        (
          await t.database.db
            .selectFrom('events')
            .select((eb) => eb.fn.max('seq').as('m'))
            .executeTakeFirst()
        )?.m ?? 0,
      );

    test('a trade reaches a subscriber of its market at once, as id/event/data with the API answer', async () => {
      const sse = await openSse(`${base}/api/markets/${market.slug}/events`);
      try {
        assert.equal(sse.status, 200);
        assert.match(String(sse.headers['content-type']), /^text\/event-stream/);
        assert.equal(sse.headers['cache-control'], 'no-store');
        assert.ok(sse.headers['x-request-id'], 'the request id is carried over');
        const answered = await buy(market.id);
        const [event] = await sse.waitFor(1, 5000);
        assert.equal(event!.event, 'trade.created');
        assert.equal(Number(event!.id), await lastSeq());
        const data = JSON.parse(event!.data);
        assert.deepEqual(data.trade, answered.trade);
        assert.equal(data.market.id, market.id);
        // Heartbeats keep the idle connection alive.
        await until(() => assert.ok(sse.comments.includes('ping')), 5000);
      } finally {
        sse.close();
      }
    });

    test('an idle stream outlives CONNECTION_TIMEOUT_MS on its pings, and is counted in /metrics', async () => {
      const sse = await openSse(`${base}/api/markets/${market.id}/events`);
      try {
        await until(async () =>
          assert.match((await t.request({ method: 'GET', url: '/metrics' })).body, /^event_streams_open 1$/m),
        );
        await new Promise((r) => setTimeout(r, 3500));
        await buy(market.id);
        const [event] = await sse.waitFor(1, 5000);
        assert.equal(event!.event, 'trade.created');
      } finally {
        sse.close();
      }
      // Its duration is how long it was watched, not a latency: not in the histogram.
      await until(async () => {
        const metrics = (await t.request({ method: 'GET', url: '/metrics' })).body;
        assert.match(metrics, /^event_streams_open 0$/m);
        assert.doesNotMatch(
          metrics,
          /http_request_duration_seconds_count\{[^}]*route="\/api\/markets\/:id\/events"/,
        );
      });
    });

    test('a client that drops and reconnects with Last-Event-ID gets exactly what it missed, then live', async () => {
      const first = await openSse(`${base}/api/markets/${market.id}/events`);
      await buy(market.id);
      const [seen] = await first.waitFor(1);
      first.close();
      // Missed while away: two trades and an edit here, one trade on another market.
      await buy(market.id);
      await buy(other.id);
      await buy(market.id, 2);
      const edit = await t.request({
        method: 'PATCH',
        url: `/api/markets/${market.id}`,
        headers: alice.auth,
        payload: { tags: ['edited-while-away'] },
      });
      assert.equal(edit.statusCode, 200, edit.body);
      const missed = (
        await t.database.db
          .selectFrom('events')
          .select(['seq', 'type'])
          .where('seq', '>', Number(seen!.id))
          .where('marketId', '=', market.id)
          .orderBy('seq')
          .execute()
      ).map((e) => [e.seq, e.type]);
      assert.equal(missed.length, 3);

      const again = await openSse(`${base}/api/markets/${market.id}/events`, { 'last-event-id': seen!.id! });
      try {
        const replayed = await again.waitFor(3);
        assert.deepEqual(
          replayed.map((e) => [Number(e.id), e.event]),
          missed,
        );
        await buy(market.id);
        const all = await again.waitFor(4);
        assert.equal(Number(all[3]!.id), await lastSeq());
        // Nothing more, no duplicate.
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(again.events.length, 4);
      } finally {
        again.close();
      }
    });

    test('a long replay (several pages) while new events keep committing: every one exactly once, in order', async () => {
      const from = await lastSeq();
      // 1,200 events already in the log (more than two replay pages)…
      await t.database.db
        .insertInto('events')
        .values(
          Array.from({ length: 1200 }, (_, i) => ({
            type: 'market.updated',
            marketId: market.id,
            payload: JSON.stringify({ n: i }),
          })),
        )
        .execute();
      const events = createEventRepository(t.database.db);
      const sse = await openSse(`${base}/api/markets/${market.id}/events`, { 'last-event-id': String(from) });
      try {
        // …and 60 more appended one by one while the replay runs.
        for (let i = 0; i < 60; i++) {
          await inTransaction(t.database.db, (trx) =>
            events.append(trx, { type: 'market.updated', marketId: market.id, payload: { live: i } }),
          );
        }
        await sse.waitFor(1260, 30_000);
        await new Promise((r) => setTimeout(r, 300));
        const expected = (
          await t.database.db
            .selectFrom('events')
            .select('seq')
            .where('seq', '>', from)
            .where('marketId', '=', market.id)
            .orderBy('seq')
            .execute()
        ).map((e) => e.seq);
        assert.equal(expected.length, 1260);
        assert.deepEqual(ids(sse.events), expected);
      } finally {
        sse.close();
      }
    });

    test('a market deleted while its watcher was away: the resume delivers its market.deleted (no 404)', async () => {
      const doomed = await createMarket(t, alice);
      const from = await lastSeq();
      const gone = await t.request({
        method: 'DELETE',
        url: `/api/markets/${doomed.id}`,
        headers: alice.auth,
      });
      assert.equal(gone.statusCode, 204, gone.body);
      const sse = await openSse(`${base}/api/markets/${doomed.id}/events`, { 'last-event-id': String(from) });
      try {
        assert.equal(sse.status, 200, sse.body);
        const [event] = await sse.waitFor(1);
        assert.equal(event!.event, 'market.deleted');
        assert.equal(JSON.parse(event!.data).id, doomed.id);
      } finally {
        sse.close();
      }
      // By its slug it is unknown now, and a market that never existed stays a 404.
      const bySlug = await openSse(`${base}/api/markets/${doomed.slug}/events`);
      assert.equal(bySlug.status, 404);
    });

    test('?lastEventId= resumes too, and the header wins over it (EventSource reconnecting)', async () => {
      const before = await lastSeq();
      await buy(market.id);
      await buy(market.id);
      const byQuery = await openSse(`${base}/api/markets/${market.id}/events?lastEventId=${before}`);
      const byHeader = await openSse(`${base}/api/markets/${market.id}/events?lastEventId=0`, {
        'last-event-id': String(before + 1),
      });
      try {
        assert.deepEqual(ids(await byQuery.waitFor(2)), [before + 1, before + 2]);
        assert.deepEqual(ids(await byHeader.waitFor(1)), [before + 2]);
      } finally {
        byQuery.close();
        byHeader.close();
      }
    });

    test('/api/events?markets= follows only the markets named (ids or slugs); without it, every event', async () => {
      const third = await createMarket(t, alice);
      const some = await openSse(`${base}/api/events?markets=${market.slug},${third.id}`);
      const all = await openSse(`${base}/api/events`);
      try {
        await buy(other.id);
        await buy(third.id);
        await buy(market.id);
        const got = await some.waitFor(2);
        assert.deepEqual(
          got.map((e) => JSON.parse(e.data).market.id),
          [third.id, market.id],
        );
        const every = await all.waitFor(3);
        assert.deepEqual(
          every.map((e) => JSON.parse(e.data).market.id),
          [other.id, third.id, market.id],
        );
        assert.ok(ids(every).every((id, i, a) => i === 0 || id > a[i - 1]!));
      } finally {
        some.close();
        all.close();
      }
    });

    test('bad Last-Event-ID and markets= are refused in the envelope before any stream starts', async () => {
      const head = await lastSeq();
      const cases: [string, Record<string, string>, number, RegExp?][] = [
        [`/api/markets/${market.id}/events`, { 'last-event-id': 'abc' }, 400],
        [`/api/markets/${market.id}/events`, { 'last-event-id': '-1' }, 400],
        [`/api/markets/${market.id}/events`, { 'last-event-id': '1e3' }, 400],
        [
          `/api/markets/${market.id}/events`,
          { 'last-event-id': String(head + 1000) },
          400,
          /beyond the newest/,
        ],
        [`/api/markets/${market.id}/events?lastEventId=x`, {}, 400],
        [`/api/markets/00000000-0000-4000-8000-000000000000/events`, {}, 404],
        [`/api/events?markets=${market.id},${market.id}`, {}, 400, /at most once/],
        [
          `/api/events?markets=${Array.from({ length: 51 }, (_, i) => `m-${i}`).join(',')}`,
          {},
          400,
          /at most 50/,
        ],
        [`/api/events?markets=${market.id},,`, {}, 400],
        [`/api/events?markets=${encodeURIComponent('<script>')}`, {}, 400],
        [
          `/api/events?markets=${market.id},no-such-market,00000000-0000-4000-8000-000000000000`,
          {},
          404,
          /no-such-market, 00000000-0000-4000-8000-000000000000/,
        ],
      ];
      for (const [url, headers, status, message] of cases) {
        const res = await openSse(`${base}${url}`, headers);
        assert.equal(res.status, status, `${url} ${JSON.stringify(headers)}: ${res.body}`);
        assert.match(String(res.headers['content-type']), /^application\/json/);
        const body = JSON.parse(res.body);
        assert.equal(body.success, false);
        assert.equal(body.requestId, res.headers['x-request-id']);
        if (message) assert.match(JSON.stringify(body), message);
      }
      // The head itself is a valid resume point: nothing replayed, live from there.
      const atHead = await openSse(`${base}/api/markets/${market.id}/events`, {
        'last-event-id': String(head),
      });
      assert.equal(atHead.status, 200);
      atHead.close();
    });

    test('a resume point older than the retention gets one reset, then the stream continues', async () => {
      const resumeFrom = await lastSeq();
      await buy(market.id);
      await buy(market.id);
      // Age everything so far past the retention, and prune as the hourly job does.
      await sql`update events set created_at = now() - interval '200 hours'`.execute(t.database.db);
      const pruned = await pruneEventsOlderThan(t.database.db, 168);
      assert.ok(pruned >= 2);
      const head = await lastSeq().then((s) => s || resumeFrom + 2);
      const sse = await openSse(`${base}/api/markets/${market.id}/events`, {
        'last-event-id': String(resumeFrom),
      });
      try {
        const [reset] = await sse.waitFor(1);
        assert.equal(reset!.event, 'reset');
        const data = JSON.parse(reset!.data);
        assert.equal(typeof data.reason, 'string');
        assert.ok(data.lastSeq >= resumeFrom + 2, JSON.stringify(data));
        assert.equal(Number(reset!.id), data.lastSeq);
        await buy(market.id);
        const [, live] = await sse.waitFor(2);
        assert.equal(live!.event, 'trade.created');
        assert.ok(Number(live!.id) > head);
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(sse.events.filter((e) => e.event === 'reset').length, 1, 'exactly one reset');
      } finally {
        sse.close();
      }
      // Resuming from the reset's id is exact again: no reset, no replay of pruned events.
      const after = await openSse(`${base}/api/markets/${market.id}/events`, {
        'last-event-id': String(head),
      });
      try {
        const [only] = await after.waitFor(1);
        assert.equal(only!.event, 'trade.created');
      } finally {
        after.close();
      }
    });

    test('a gap left by a rolled-back append is not a reason to reset', async () => {
      const events = createEventRepository(t.database.db);
      const before = await lastSeq();
      await assert.rejects(
        inTransaction(t.database.db, async (trx) => {
          await events.append(trx, { type: 'market.updated', marketId: market.id, payload: {} });
          throw new Error('roll back');
        }),
      );
      await buy(market.id);
      const sse = await openSse(`${base}/api/markets/${market.id}/events`, {
        'last-event-id': String(before),
      });
      try {
        const [event] = await sse.waitFor(1);
        assert.equal(event!.event, 'trade.created');
        assert.ok(Number(event!.id) > before + 1, 'the rolled-back seq was skipped');
      } finally {
        sse.close();
      }
    });

    test('open streams per client are limited: 429 in the envelope, and a closed stream frees its slot', async () => {
      const open = await Promise.all([1, 2, 3].map(() => openSse(`${base}/api/events`)));
      try {
        for (const s of open) assert.equal(s.status, 200);
        const refused = await openSse(`${base}/api/events`);
        assert.equal(refused.status, 429, refused.body);
        const body = JSON.parse(refused.body);
        assert.equal(body.code, 'TOO_MANY_STREAMS');
        assert.ok(refused.headers['retry-after']);
        open.pop()!.close();
        await until(async () => {
          const next = await openSse(`${base}/api/events`);
          assert.equal(next.status, 200);
          open.push(next);
        });
      } finally {
        for (const s of open) s.close();
      }
    });
  });
}

/** A subscriber that never reads: the server's backlog for it stays bounded and it is cut off. */
describe('a subscriber that never reads (pglite)', () => {
  let t: TestApp;
  let port: number;

  before(async () => {
    t = await buildTestApp('pglite', {
      STREAM_MAX_BUFFER_BYTES: String(64 * 1024),
      STREAM_HEARTBEAT_MS: '200',
    });
    const url = await t.app.listen({ host: '127.0.0.1', port: 0 });
    port = Number(new URL(url).port);
  });
  after(() => t?.close());

  test('is cut off once its backlog passes the limit, without the server holding what it did not read', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write('GET /api/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    socket.pause(); // never reads
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    await new Promise((r) => setTimeout(r, 300));
    // 40 events of ~256 KiB: 10 MiB, far more than the socket buffers and the 64 KiB limit.
    const events = createEventRepository(t.database.db);
    const big = 'x'.repeat(256 * 1024);
    for (let i = 0; i < 40; i++) {
      await inTransaction(t.database.db, (trx) =>
        events.append(trx, { type: 'market.updated', marketId: null, payload: { big } }),
      );
    }
    // The server cut it: the socket is ended or destroyed although the client never read.
    let received = 0;
    let tail = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      tail = (tail + chunk.toString('latin1')).slice(-200);
    });
    await until(async () => {
      const metrics = await t.request({ method: 'GET', url: '/metrics' });
      assert.match(metrics.body, /^event_streams_open 0$/m);
    });
    socket.resume();
    // Either it took the `end` (the response is complete) or, not reading even that, was destroyed.
    let destroyed = false;
    void closed.then(() => {
      destroyed = true;
    });
    await until(
      () => assert.ok(destroyed || tail.includes('event: end\ndata: {"reason":"slow-consumer"}\n\n'), tail),
      15_000,
    );
    socket.destroy();
    assert.ok(
      received < 5 * 1024 * 1024,
      `the client got ${received} bytes of 10 MiB: the rest was never buffered`,
    );
  });
});
