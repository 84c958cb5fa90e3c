import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createEventRepository } from '../src/modules/events/events.repository.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { createMarket, type TestUser } from './helpers/trading.ts';

/** Issue 13 item 6: comments, replies one level deep, tombstones, and their events. */
for (const kind of databaseKinds()) {
  describe(`comments (${kind})`, () => {
    let t: TestApp;
    let alice: TestUser;
    let bob: TestUser;
    let moderator: TestUser;
    let admin: TestUser;
    let market: { id: string; slug: string };

    before(async () => {
      t = await buildTestApp(kind);
      alice = await t.user('user', 'Alice');
      bob = await t.user('user', 'Bob');
      moderator = await t.user('moderator');
      admin = await t.user('admin');
      market = await createMarket(t, alice);
    });
    after(() => t?.close());

    const post = (user: TestUser | undefined, body: unknown, marketKey = market.id) =>
      t.request({
        method: 'POST',
        url: `/api/markets/${marketKey}/comments`,
        headers: user?.auth ?? {},
        payload: body as object,
      });
    const list = (query = '', marketKey = market.id) =>
      t.request({ method: 'GET', url: `/api/markets/${marketKey}/comments${query}` });
    const remove = (user: TestUser, commentId: string, marketKey = market.id) =>
      t.request({
        method: 'DELETE',
        url: `/api/markets/${marketKey}/comments/${commentId}`,
        headers: user.auth,
      });
    async function comment(user: TestUser, text: string, replyTo?: string) {
      const res = await post(user, { text, ...(replyTo && { replyTo }) });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().data;
    }
    const events = () =>
      t.database.db
        .selectFrom('events')
        .select(['seq', 'type', 'marketId', 'payload'])
        .orderBy('seq')
        .execute();
    const commentCount = async () =>
      Number(
        (
          await t.database.db
            .selectFrom('comments')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    test('a signed-in user comments; the answer, the list and the event carry the same comment', async () => {
      const before = (await events()).at(-1)?.seq ?? 0;
      const res = await post(alice, { text: '  I think YES.\r\nSee the forecast.  ' });
      assert.equal(res.statusCode, 201, res.body);
      const created = res.json().data;
      assert.deepEqual(
        { ...created, id: undefined, createdAt: undefined },
        {
          id: undefined,
          createdAt: undefined,
          marketId: market.id,
          replyTo: null,
          text: 'I think YES.\nSee the forecast.',
          deleted: false,
          author: { id: alice.id, name: 'Alice' },
          deletedAt: null,
        },
        'trimmed, CRLF as LF, the author by id and name',
      );
      assert.equal(res.headers.location, `/api/markets/${market.id}/comments/${created.id}`);
      const appended = (await events()).filter((e) => e.seq > before);
      assert.deepEqual(
        appended.map((e) => [e.type, e.marketId, e.payload]),
        [['comment.created', market.id, created]],
      );
      assert.deepEqual(
        await createEventRepository(t.database.db).changedMarketsAfter(before, 100),
        [],
        'a comment changes no market: the cache follower has nothing to drop for it',
      );
      const listed = (await list(`?limit=1`, market.slug)).json();
      assert.deepEqual(listed.data, [created], 'by slug too, newest first');
    });

    test('nobody signed in gets 401 and nothing is stored', async () => {
      const count = await commentCount();
      const res = await post(undefined, { text: 'anonymous' });
      assert.equal(res.statusCode, 401);
      assert.equal(await commentCount(), count);
    });

    test('empty, too long, NUL, control characters and broken Unicode are 400s that store nothing', async () => {
      const count = await commentCount();
      const seq = (await events()).at(-1)?.seq;
      const bad: [string, unknown][] = [
        ['empty', ''],
        ['only white space', ' \n\t\r\n '],
        ['too long', 'x'.repeat(2001)],
        ['too long in code points', '😀'.repeat(2001)],
        ['far too long', ' '.repeat(100_000)],
        ['NUL', 'hello\u0000world'],
        ['bell', 'ring\u0007'],
        ['escape sequence', '\u001b[31mred'],
        ['DEL', 'a\u007fb'],
        ['C1 control', 'a\u0085b'],
        ['lone surrogate', 'half \ud83d of an emoji'],
        ['not a string', 42],
        ['null', null],
      ];
      for (const [what, text] of bad) {
        const res = await post(alice, { text });
        assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
        const body = res.json();
        assert.equal(body.success, false);
        assert.equal(body.code, 'VALIDATION_ERROR', what);
        assert.ok(body.requestId, what);
      }
      for (const body of [{}, { text: 'ok', extra: 1 }, { text: 'ok', replyTo: 'not-a-uuid' }]) {
        assert.equal((await post(alice, body)).statusCode, 400, JSON.stringify(body));
      }
      assert.equal(await commentCount(), count);
      assert.equal((await events()).at(-1)?.seq, seq, 'no event for a refused comment');
      // Exactly at the bound is fine, tabs and newlines are kept.
      assert.equal((await comment(alice, 'y'.repeat(2000))).text.length, 2000);
      assert.equal((await comment(alice, '😀'.repeat(2000))).text, '😀'.repeat(2000));
      assert.equal((await comment(alice, 'a\tb\nc')).text, 'a\tb\nc');
    });

    test('markup is kept as plain text and only ever answered as JSON', async () => {
      const markup = '<script>alert(1)</script> <b>bold</b> &amp; <img src=x onerror=alert(2)>';
      const res = await post(alice, { text: markup });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.json().data.text, markup, 'not escaped, not stripped: the characters as sent');
      const page = await list('?limit=1');
      assert.equal(page.json().data[0].text, markup);
      for (const r of [res, page]) {
        assert.match(String(r.headers['content-type']), /^application\/json/);
        assert.equal(r.headers['x-content-type-options'], 'nosniff');
        assert.match(String(r.headers['content-security-policy']), /default-src 'none'/);
      }
    });

    test('replies are one level deep and stay in the same market', async () => {
      const top = await comment(alice, 'top');
      const reply = await comment(bob, 'a reply', top.id);
      assert.equal(reply.replyTo, top.id);

      const tooDeep = await post(alice, { text: 'reply to a reply', replyTo: reply.id });
      assert.equal(tooDeep.statusCode, 409);
      assert.equal(tooDeep.json().code, 'REPLY_TOO_DEEP');

      const other = await createMarket(t, bob);
      const elsewhere = await post(alice, { text: 'wrong market', replyTo: top.id }, other.id);
      assert.equal(elsewhere.statusCode, 400);
      assert.equal(elsewhere.json().code, 'REPLY_TO_NOT_FOUND');
      const unknown = await post(alice, { text: 'nobody', replyTo: crypto.randomUUID() });
      assert.equal(unknown.statusCode, 400);
      assert.equal(unknown.json().code, 'REPLY_TO_NOT_FOUND');
    });

    test('others get 403; the author, a moderator and an admin delete into a tombstone', async () => {
      const mine = await comment(alice, 'to be deleted by me');
      const reply = await comment(bob, 'reply stays', mine.id);
      for (const stranger of [bob]) {
        const res = await remove(stranger, mine.id);
        assert.equal(res.statusCode, 403);
        assert.equal(res.json().code, 'FORBIDDEN');
      }
      const before = (await events()).at(-1)!.seq;
      const res = await remove(alice, mine.id);
      assert.equal(res.statusCode, 200, res.body);
      const tombstone = res.json().data;
      assert.equal(tombstone.id, mine.id);
      assert.equal(tombstone.text, null);
      assert.equal(tombstone.deleted, true);
      assert.equal(tombstone.author, null);
      assert.ok(tombstone.deletedAt);
      assert.deepEqual(
        (await events()).filter((e) => e.seq > before).map((e) => [e.type, e.marketId, e.payload]),
        [['comment.deleted', market.id, tombstone]],
      );

      // The thread stays readable: the tombstone and its reply are both listed.
      const page = (await list('?order=oldest&limit=100')).json().data as { id: string }[];
      assert.deepEqual(
        page.filter((c) => c.id === mine.id || c.id === reply.id),
        [tombstone, reply],
      );
      const stale = await post(bob, { text: 'too late', replyTo: mine.id });
      assert.equal(stale.statusCode, 409);
      assert.equal(stale.json().code, 'REPLY_TO_DELETED');

      // Deleting again answers the same tombstone and appends nothing.
      const seq = (await events()).at(-1)!.seq;
      const again = await remove(alice, mine.id);
      assert.equal(again.statusCode, 200);
      assert.deepEqual(again.json().data, tombstone);
      assert.equal((await events()).at(-1)!.seq, seq);
      assert.equal((await remove(bob, mine.id)).statusCode, 403, 'still not yours to delete');

      for (const staff of [moderator, admin]) {
        const theirs = await comment(bob, `removed by ${staff.id}`);
        const r = await remove(staff, theirs.id);
        assert.equal(r.statusCode, 200, r.body);
        assert.equal(r.json().data.deleted, true);
      }
    });

    test('a comment of another market or an unknown id is a 404 to delete', async () => {
      const mine = await comment(alice, 'here');
      const other = await createMarket(t, alice);
      assert.equal((await remove(alice, mine.id, other.id)).statusCode, 404);
      assert.equal((await remove(alice, crypto.randomUUID())).statusCode, 404);
      assert.equal((await remove(alice, 'not-a-uuid')).statusCode, 400);
    });

    test('a deleted market has no comments to read or write', async () => {
      const doomed = await createMarket(t, alice);
      const res = await t.request({
        method: 'DELETE',
        url: `/api/markets/${doomed.id}`,
        headers: alice.auth,
      });
      assert.equal(res.statusCode, 204, res.body);
      for (const r of [await list('', doomed.id), await post(alice, { text: 'hello?' }, doomed.id)]) {
        assert.equal(r.statusCode, 404);
        assert.equal(r.json().code, 'NOT_FOUND');
      }
      const doomedWithComment = await createMarket(t, alice);
      const c = await post(alice, { text: 'cascade' }, doomedWithComment.id);
      assert.equal(c.statusCode, 201);
      await t.request({ method: 'DELETE', url: `/api/markets/${doomedWithComment.id}`, headers: alice.auth });
      assert.equal((await list('', doomedWithComment.id)).statusCode, 404);
    });

    test('cursor pages walk every comment once, newest or oldest first', async () => {
      const paged = await createMarket(t, alice);
      const written: string[] = [];
      for (let i = 0; i < 7; i++) {
        const res = await post(i % 2 ? bob : alice, { text: `comment ${i}` }, paged.id);
        assert.equal(res.statusCode, 201);
        written.push(res.json().data.id);
      }
      for (const [order, expected] of [
        ['newest', [...written].reverse()],
        ['oldest', written],
      ] as const) {
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const res = await list(`?order=${order}&limit=3${cursor ? `&cursor=${cursor}` : ''}`, paged.id);
          assert.equal(res.statusCode, 200, res.body);
          const body = res.json();
          seen.push(...body.data.map((c: { id: string }) => c.id));
          assert.equal(body.meta.limit, 3);
          assert.equal(body.meta.hasMore, body.meta.nextCursor !== null);
          cursor = body.meta.nextCursor;
        } while (cursor);
        assert.deepEqual(seen, expected, order);
      }
      const first = (await list('?order=newest&limit=2', paged.id)).json();
      const crossed = await list(`?order=oldest&cursor=${first.meta.nextCursor}`, paged.id);
      assert.equal(crossed.statusCode, 400, 'a newest-first cursor does not page oldest first');
      for (const q of ['?cursor=garbage', '?limit=0', '?limit=101', '?order=sideways', '?unknown=1']) {
        assert.equal((await list(q, paged.id)).statusCode, 400, q);
      }
    });

    test('a comment whose event cannot be appended is rolled back with it', async () => {
      await sql`create function refuse_comment_events() returns trigger language plpgsql as $$
        begin raise exception 'event refused for this test'; end $$`.execute(t.database.db);
      await sql`create trigger refuse_comment_events before insert on events for each row
        when (new.type like 'comment.%') execute function refuse_comment_events()`.execute(t.database.db);
      try {
        const count = await commentCount();
        const kept = await t.database.db
          .selectFrom('comments')
          .select(['id', 'text'])
          .where('deletedAt', 'is', null)
          .where('marketId', '=', market.id)
          .where('authorId', '=', alice.id)
          .executeTakeFirstOrThrow();
        const res = await post(alice, { text: 'never stored' });
        assert.equal(res.statusCode, 500);
        assert.equal(await commentCount(), count, 'no comment without its event');
        const del = await remove(alice, kept.id);
        assert.equal(del.statusCode, 500);
        const still = await t.database.db
          .selectFrom('comments')
          .select('text')
          .where('id', '=', kept.id)
          .executeTakeFirstOrThrow();
        assert.equal(still.text, kept.text, 'no tombstone without its event');
      } finally {
        await sql`drop trigger refuse_comment_events on events`.execute(t.database.db);
        await sql`drop function refuse_comment_events()`.execute(t.database.db);
      }
      assert.equal((await post(alice, { text: 'works again' })).statusCode, 201);
    });
  });

  describe(`comment spam (${kind})`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, { COMMENT_RATE_LIMIT_PER_MINUTE: '3' });
    });
    after(() => t?.close());

    test('each user gets COMMENT_RATE_LIMIT_PER_MINUTE comments a minute, then 429 with Retry-After', async () => {
      const spammer = await t.user();
      const other = await t.user();
      const m = await createMarket(t, spammer);
      const send = (user: TestUser) =>
        t.request({
          method: 'POST',
          url: `/api/markets/${m.id}/comments`,
          headers: user.auth,
          payload: { text: 'buy buy buy' },
        });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await send(spammer)).statusCode);
      assert.deepEqual(statuses, [201, 201, 201, 429]);
      const limited = await send(spammer);
      assert.equal(limited.json().code, 'RATE_LIMITED');
      assert.ok(Number(limited.headers['retry-after']) > 0);
      assert.equal((await send(other)).statusCode, 201, 'another user has a budget of their own');
      const reads = await t.request({ method: 'GET', url: `/api/markets/${m.id}/comments` });
      assert.equal(reads.statusCode, 200, 'reading is not held to the comment limit');
      assert.equal(reads.json().data.length, 4);
    });
  });
}
