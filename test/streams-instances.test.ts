import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTokenService } from '../src/modules/auth/tokens.ts';
import { TEST_JWT_SECRET } from './helpers/build-app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { marketBody } from './helpers/factories.ts';
import { killServers, type ServerProcess, serverEnv, startServer } from './helpers/server-process.ts';
import { openSse, type SseClient } from './helpers/sse-client.ts';

after(killServers);

/**
 * Two `node src/server.ts` processes on one PostgreSQL, as behind a load balancer: an event
 * committed through one reaches subscribers on both, in seq order; a subscriber whose instance is
 * killed resumes on the other exactly; SIGTERM ends streams at once with `end` and a retry hint.
 */
describe('streams across instances (two server processes, one PostgreSQL)', {
  skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL',
}, () => {
  let db: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;
  let dataDir: string;
  let auth: { authorization: string };
  let marketId: string;

  before(async () => {
    db = await createTestDatabase('postgres');
    dataDir = await mkdtemp(join(tmpdir(), 'markets-streams-'));
    const env = serverEnv({
      DATA_DIR: dataDir,
      DATABASE_URL: db.url!,
      DATABASE_POOL_SIZE: '4',
      JWT_SECRET: TEST_JWT_SECRET,
      RATE_LIMIT_PER_MINUTE: '0',
      TRADE_RATE_LIMIT_PER_MINUTE: '0',
      WORKERS: 'false',
      // Far above the test's waits: delivery must come from the commit's notification, not a poll.
      STREAM_POLL_INTERVAL_MS: '60000',
      SHUTDOWN_DRAIN_MS: '3000',
      STREAM_RETRY_MS: '500',
    });
    [a, b] = await Promise.all([startServer(env), startServer(env)]);
    const user = await db.database.db
      .insertInto('users')
      .values({ email: `streams-${process.pid}@example.com`, name: 'Streamer', role: 'user' })
      .returning(['id', 'email'])
      .executeTakeFirstOrThrow();
    const token = await createTokenService(TEST_JWT_SECRET, 3600).sign({
      sub: user.id,
      email: user.email,
      role: 'user',
    });
    auth = { authorization: `Bearer ${token}` };
    const res = await fetch(`${a.url}/api/markets`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify(marketBody()),
    });
    assert.equal(res.status, 201, await res.clone().text());
    marketId = ((await res.json()) as { data: { id: string } }).data.id;
  });
  after(async () => {
    await a?.kill();
    await b?.kill();
    await db?.cleanup();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const buy = async (server: ServerProcess) => {
    const res = await fetch(`${server.url}/api/markets/${marketId}/trades`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ outcome: 'YES', side: 'buy', amount: 1 }),
    });
    assert.equal(res.status, 201, await res.clone().text());
  };
  const seqsAfter = async (seq: number) =>
    (
      await db.database.db
        .selectFrom('events')
        .select('seq')
        .where('seq', '>', seq)
        .where('marketId', '=', marketId)
        .orderBy('seq')
        .execute()
    ).map((e) => e.seq);
  const ids = (s: SseClient) => s.events.map((e) => Number(e.id));

  test('an event committed through A reaches subscribers on A and B promptly (the poll is a minute away), in seq order', async () => {
    const onA = await openSse(`${a.url}/api/markets/${marketId}/events`);
    const onB = await openSse(`${b.url}/api/events`);
    try {
      const started = Date.now();
      await buy(a);
      await buy(b);
      await buy(a);
      await onA.waitFor(3, 5000);
      await onB.waitFor(3, 5000);
      // The poll is a minute away: this came from the commits' notifications.
      assert.ok(Date.now() - started < 5000);
      const expected = await seqsAfter(0).then((all) => all.slice(-3));
      assert.deepEqual(ids(onA), expected);
      assert.deepEqual(ids(onB), expected);
    } finally {
      onA.close();
      onB.close();
    }
  });

  test('A killed (SIGKILL) under a subscriber: it reconnects to B with Last-Event-ID and gets exactly what it missed', async () => {
    const sub = await openSse(`${a.url}/api/markets/${marketId}/events`);
    await buy(b);
    await sub.waitFor(1, 5000);
    const killed = await a.kill('SIGKILL');
    assert.equal(killed.signal, 'SIGKILL');
    await sub.ended;
    const lastSeen = Number(sub.events.at(-1)!.id);
    // Committed while the subscriber had no connection.
    await buy(b);
    await buy(b);
    await buy(b);
    const resumed = await openSse(`${b.url}/api/markets/${marketId}/events`, {
      'last-event-id': String(lastSeen),
    });
    try {
      await resumed.waitFor(3, 5000);
      await buy(b);
      await resumed.waitFor(4, 5000);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(
        ids(resumed),
        await seqsAfter(lastSeen),
        'every missed event once, in order, then live',
      );
    } finally {
      resumed.close();
    }
  });

  test('SIGTERM ends open streams at once with `end` (shutting-down) and a retry hint; the process exits 0 after the drain', async () => {
    const sub = await openSse(`${b.url}/api/events`);
    const signalled = Date.now();
    const stopping = b.stop('SIGTERM', 20_000);
    await sub.ended;
    const endedAfter = Date.now() - signalled;
    const end = sub.events.at(-1);
    assert.equal(end?.event, 'end');
    assert.deepEqual(JSON.parse(end!.data), { reason: 'shutting-down' });
    assert.equal(sub.retry, 500);
    assert.ok(
      endedAfter < 2000,
      `the stream ended ${endedAfter} ms after SIGTERM, well before the 3 s drain was over`,
    );
    const stopped = await stopping;
    assert.equal(stopped.code, 0, stopped.stderr);
    // Drain (3 s) plus closing; a stream counted in flight would hold it for SHUTDOWN_TIMEOUT_MS (10 s) more and exit 1.
    assert.ok(stopped.tookMs < 10_000, `stopped in ${stopped.tookMs} ms`);
    assert.doesNotMatch(stopped.stdout, /shutdown timed out/);
  });
});
