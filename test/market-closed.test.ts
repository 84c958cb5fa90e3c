import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { createEventRepository } from '../src/modules/events/events.repository.ts';
import { createCloseAnnouncer } from '../src/modules/markets/close-announcer.ts';
import { createMarketRepository } from '../src/modules/markets/markets.repository.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { createTestDatabase, databaseKinds } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';
import { createMarket, type TestUser, trade } from './helpers/trading.ts';

/** Issue 13 item 1: a market whose close time passes gets exactly one market.closed event. */
for (const kind of databaseKinds()) {
  describe(`market.closed, announced by the periodic sweep (${kind})`, () => {
    let t: TestApp;
    let alice: TestUser;

    before(async () => {
      // Lists cached for a minute: a page that still shows the market after its close is stale.
      t = await buildTestApp(kind, { MARKET_CLOSE_INTERVAL_MS: '200', LIST_CACHE_TTL_SECONDS: '60' });
      alice = await t.user();
    });
    after(() => t?.close());

    const closedEvents = (marketId: string) =>
      t.database.db
        .selectFrom('events')
        .select(['seq', 'payload'])
        .where('type', '=', 'market.closed')
        .where('marketId', '=', marketId)
        .orderBy('seq')
        .execute();

    test('once its close time passes: one event with the market as GET answers it, and the cache follows', async () => {
      const closesAt = new Date(Date.now() + 2500).toISOString();
      const m = await createMarket(t, alice, { closesAt });
      const activeIds = async () =>
        (await t.request({ method: 'GET', url: '/api/markets?status=active&limit=100&fields=id' }))
          .json()
          .data.map((r: { id: string }) => r.id);
      assert.ok((await activeIds()).includes(m.id), 'listed as active while open (and cached)');
      assert.deepEqual(await closedEvents(m.id), [], 'nothing before its close time');

      await eventually(async () => (await closedEvents(m.id)).length > 0, 15_000, 'market.closed');
      const got = await t.request({ method: 'GET', url: `/api/markets/${m.id}` });
      const [event] = await closedEvents(m.id);
      assert.deepEqual(event!.payload, got.json().data);
      assert.equal((event!.payload as { status: string }).status, 'closed');
      assert.ok(!(await activeIds()).includes(m.id), 'the cached active list was dropped at the close');

      // Several more sweeps later: still exactly one.
      await sleep(1000);
      assert.equal((await closedEvents(m.id)).length, 1);
    });

    test('a market reopened by a later close time is announced again when that one passes', async () => {
      const moderator = await t.user('moderator');
      const m = await createMarket(t, alice, { closesAt: new Date(Date.now() + 1500).toISOString() });
      await eventually(async () => (await closedEvents(m.id)).length === 1, 15_000, 'first close');
      const res = await t.request({
        method: 'PATCH',
        url: `/api/markets/${m.id}`,
        headers: moderator.auth,
        payload: { closesAt: new Date(Date.now() + 1500).toISOString() },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().data.status, 'active');
      await eventually(async () => (await closedEvents(m.id)).length === 2, 15_000, 'second close');
      await sleep(600);
      assert.equal((await closedEvents(m.id)).length, 2);
    });
  });

  describe(`market.closed without a running sweep (${kind})`, () => {
    let t: TestApp;
    let alice: TestUser;
    let admin: TestUser;

    before(async () => {
      t = await buildTestApp(kind, { WORKERS: 'false' });
      alice = await t.user();
      admin = await t.user('admin');
    });
    after(() => t?.close());

    const announcer = () =>
      createCloseAnnouncer({
        db: t.database.db,
        markets: createMarketRepository(t.database.db),
        events: createEventRepository(t.database.db),
      });
    /** Time passes: the market's close time is moved into the past behind the API's back. */
    const pastClose = (id: string) =>
      sql`update markets set closes_at = now() - interval '1 second' where id = ${id}`.execute(t.database.db);
    const typesOf = async (marketId: string) =>
      (
        await t.database.db
          .selectFrom('events')
          .select('type')
          .where('marketId', '=', marketId)
          .orderBy('seq')
          .execute()
      ).map((e) => e.type);

    test('a sweep whose event cannot be appended rolls back; the next one announces it once', async () => {
      const m = await createMarket(t, alice);
      await pastClose(m.id);
      await sql`create function refuse_closed_events() returns trigger language plpgsql as $$
        begin raise exception 'refused for this test'; end $$`.execute(t.database.db);
      await sql`create trigger refuse_closed_events before insert on events for each row
        when (new.type = 'market.closed') execute function refuse_closed_events()`.execute(t.database.db);
      try {
        await assert.rejects(announcer().announceDue(), /refused for this test/);
      } finally {
        await sql`drop trigger refuse_closed_events on events`.execute(t.database.db);
        await sql`drop function refuse_closed_events()`.execute(t.database.db);
      }
      const row = await t.database.db
        .selectFrom('markets')
        .select('closeAnnouncedAt')
        .where('id', '=', m.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.closeAnnouncedAt, null, 'not marked announced without its event');
      assert.deepEqual(await typesOf(m.id), ['market.created']);
      assert.ok((await announcer().announceDue()) >= 1);
      assert.equal(await announcer().announceDue(), 0);
      assert.deepEqual(await typesOf(m.id), ['market.created', 'market.closed']);
    });

    test('sweeps running at once announce each market exactly once', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) ids.push((await createMarket(t, await t.user())).id);
      await sql`update markets set closes_at = now() - interval '1 second' where id in (${sql.join(ids)})`.execute(
        t.database.db,
      );
      const counts = await Promise.all([0, 1, 2, 3].map(() => announcer().announceDue()));
      assert.equal(
        counts.reduce((a, b) => a + b, 0),
        25,
      );
      const events = await t.database.db
        .selectFrom('events')
        .select(['marketId'])
        .where('type', '=', 'market.closed')
        .where('marketId', 'in', ids)
        .execute();
      assert.deepEqual(events.map((e) => e.marketId).sort(), [...ids].sort());
    });

    test('a market settled after its close but before a sweep has its close told first, once', async () => {
      const bob = await t.user();
      const m = await createMarket(t, bob);
      assert.equal((await trade(t, bob, m.id, { outcome: 'YES', side: 'buy', amount: 5 })).statusCode, 201);
      await pastClose(m.id);
      const res = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/resolve`,
        headers: admin.auth,
        payload: { outcome: 'YES' },
      });
      assert.equal(res.statusCode, 200, res.body);
      await announcer().announceDue();
      assert.deepEqual(await typesOf(m.id), [
        'market.created',
        'trade.created',
        'market.closed',
        'market.resolved',
      ]);
      const open = await createMarket(t, bob);
      await t.request({
        method: 'POST',
        url: `/api/markets/${open.id}/cancel`,
        headers: admin.auth,
      });
      await announcer().announceDue();
      assert.deepEqual(
        await typesOf(open.id),
        ['market.created', 'market.cancelled'],
        'settled while open: never closed',
      );
    });
  });
}

describe('market.closed on PostgreSQL: two processes sweeping one database', {
  skip: !process.env.TEST_DATABASE_URL,
}, () => {
  test('with sweeps on separate connections, each close is announced once', async () => {
    const a = await createTestDatabase('postgres');
    try {
      const db = a.database.db;
      const user = await db
        .insertInto('users')
        .values({ email: `sweep-${Date.now()}@example.com`, name: 'Sweep' })
        .returning('id')
        .executeTakeFirstOrThrow();
      const ids = (
        await db
          .insertInto('markets')
          .values(
            Array.from({ length: 300 }, (_, i) => ({
              slug: `sweep-${i}`,
              name: `Sweep ${i}`,
              category: 'test',
              closesAt: new Date(Date.now() - 1000),
              creatorId: user.id,
            })),
          )
          .returning('id')
          .execute()
      ).map((r) => r.id);
      const sweep = () =>
        createCloseAnnouncer({
          db,
          markets: createMarketRepository(db),
          events: createEventRepository(db),
        }).announceDue();
      const counts = await Promise.all(Array.from({ length: 6 }, sweep));
      assert.equal(
        counts.reduce((x, y) => x + y, 0),
        300,
      );
      const rows = await db
        .selectFrom('events')
        .select((eb) => ['marketId', eb.fn.countAll<number>().as('n')])
        .where('type', '=', 'market.closed')
        .groupBy('marketId')
        .execute();
      assert.equal(rows.length, 300);
      assert.ok(rows.every((r) => Number(r.n) === 1));
      assert.deepEqual(rows.map((r) => r.marketId).sort(), ids.sort());
    } finally {
      await a.cleanup();
    }
  });
});
