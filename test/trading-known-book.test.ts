import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { marketBody } from './helpers/factories.ts';
import { body, json, startInstances } from './helpers/instances.ts';
import { balanceOf, createMarket, ledger, type TestUser, trade } from './helpers/trading.ts';

/**
 * A buy on a market this instance traded last is planned on the row that trade left and written
 * in one statement (trade-execution.ts buysOnKnownBook). Whatever changed the market or the trader
 * since then must still be seen: each test here changes something behind the remembered row and
 * checks the next buy answers as if it had read everything afresh.
 */
for (const kind of databaseKinds()) {
  describe(`a buy planned on the known book (${kind})`, () => {
    let t: TestApp;
    let admin: TestUser;

    before(async () => {
      t = await buildTestApp(kind, { WRITE_DEADLINE_MS: '60000' });
      admin = await t.user('admin');
    });
    after(() => t.close());

    const tradeRows = (marketId: string) =>
      t.database.db.selectFrom('trades').selectAll().where('marketId', '=', marketId).execute();
    const tradeEvents = (marketId: string) =>
      t.database.db
        .selectFrom('events')
        .select('payload')
        .where('marketId', '=', marketId)
        .where('type', '=', 'trade.created')
        .orderBy('seq')
        .execute();

    test('its event is the trade as answered: the same line, time and book', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      assert.equal((await trade(t, bob, m.id, { outcome: 'YES', side: 'buy', amount: 5 })).statusCode, 201);
      const res = await trade(t, bob, m.id, { outcome: 'NO', side: 'buy', amount: 7 });
      assert.equal(res.statusCode, 201, res.body);
      const answered = res.json().data;
      const events = await tradeEvents(m.id);
      assert.equal(events.length, 2);
      assert.deepEqual(events[1]!.payload, { trade: answered.trade, market: answered.market });
      const [row] = (await tradeRows(m.id)).filter((x) => x.id === answered.trade.id);
      assert.equal(row!.createdAt.toISOString(), answered.trade.createdAt);
      assert.equal(answered.balance, 1000 - 12);
      assert.equal(await balanceOf(t, bob.id), 100_000 - 1200);
    });

    test('a buy the trader can no longer pay is a 422 and writes nothing', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      assert.equal((await trade(t, bob, m.id, { outcome: 'YES', side: 'buy', amount: 1 })).statusCode, 201);
      const res = await trade(t, bob, m.id, { outcome: 'YES', side: 'buy', amount: 1000 });
      assert.equal(res.statusCode, 422, res.body);
      assert.equal(res.json().code, 'INSUFFICIENT_BALANCE');
      assert.equal(await balanceOf(t, bob.id), 100_000 - 100);
      assert.equal((await tradeRows(m.id)).length, 1);
      assert.equal((await tradeEvents(m.id)).length, 1);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('a limit order placed since the last trade is filled when the next buy crosses it', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      const carol = await t.user();
      assert.equal((await trade(t, carol, m.id, { outcome: 'YES', side: 'buy', amount: 1 })).statusCode, 201);
      const placed = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/orders`,
        headers: bob.auth,
        payload: { outcome: 'YES', side: 'buy', amount: 5, limitProbability: 0.45 },
      });
      assert.equal(placed.statusCode, 201, placed.body);
      // Carol buys NO: YES falls through 0.45, and Bob's order buys YES back up to it.
      assert.equal((await trade(t, carol, m.id, { outcome: 'NO', side: 'buy', amount: 30 })).statusCode, 201);
      const order = await t.database.db
        .selectFrom('orders')
        .selectAll()
        .where('id', '=', placed.json().data.order.id)
        .executeTakeFirstOrThrow();
      assert.equal(order.status, 'filled');
      assert.equal((await tradeRows(m.id)).filter((x) => x.userId === bob.id).length, 1);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('a market whose close time passed since the last trade refuses the next buy (409)', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      assert.equal((await trade(t, bob, m.id, { outcome: 'YES', side: 'buy', amount: 1 })).statusCode, 201);
      // The clock, not a write, closed it: the row's version is the one this instance remembers.
      await t.database.db
        .updateTable('markets')
        .set({ closesAt: new Date(Date.now() - 1000) })
        .where('id', '=', m.id)
        .execute();
      const res = await trade(t, bob, m.id, { outcome: 'YES', side: 'buy', amount: 1 });
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().code, 'MARKET_NOT_TRADABLE');
      assert.equal((await tradeRows(m.id)).length, 1);
      assert.equal(await balanceOf(t, bob.id), 100_000 - 100);
    });

    test('a market cancelled since the last trade refuses the next buy (409) and keeps the refund', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      assert.equal((await trade(t, bob, m.id, { outcome: 'YES', side: 'buy', amount: 1 })).statusCode, 201);
      const cancelled = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/cancel`,
        headers: admin.auth,
      });
      assert.equal(cancelled.statusCode, 200, cancelled.body);
      const res = await trade(t, bob, m.id, { outcome: 'YES', side: 'buy', amount: 1 });
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().code, 'MARKET_NOT_TRADABLE');
      assert.equal((await tradeRows(m.id)).length, 1);
      assert.equal(await balanceOf(t, bob.id), 100_000);
      assert.equal((await ledger(t, admin)).difference, 0);
    });
  });

  describe(`a buy planned on the known book, two instances (${kind})`, () => {
    test("another instance's trade in between: the next buy is priced on the book it left", async () => {
      const cluster = await startInstances(kind, 2, { WRITE_DEADLINE_MS: '60000' });
      try {
        const [a, b] = cluster.instances as [(typeof cluster.instances)[0], (typeof cluster.instances)[0]];
        const admin = await cluster.user('admin');
        const bob = await cluster.user();
        const created = await a.fetch('/api/markets', json(marketBody(), admin.auth));
        assert.equal(created.status, 201);
        const m = (await body(created)).data;
        const buy = async (on: typeof a, outcome: 'YES' | 'NO', amount: number) => {
          const res = await on.fetch(
            `/api/markets/${m.id}/trades`,
            json({ outcome, side: 'buy', amount }, bob.auth),
          );
          assert.equal(res.status, 201);
          return (await body(res)).data;
        };
        await buy(a, 'YES', 20);
        const between = await buy(b, 'YES', 50);
        const next = await buy(a, 'YES', 10);
        assert.equal(next.trade.probabilityBefore, between.trade.probabilityAfter);
        const row = await a.database.db
          .selectFrom('markets')
          .select(['shares', 'volume'])
          .where('id', '=', m.id)
          .executeTakeFirstOrThrow();
        assert.equal(row.volume, 8000);
        const lines = await a.database.db
          .selectFrom('trades')
          .selectAll()
          .where('marketId', '=', m.id)
          .execute();
        const sharesOf = (outcome: string) =>
          lines.filter((x) => x.outcome === outcome).reduce((sum, x) => sum + x.shares, 0);
        assert.deepEqual(row.shares, [sharesOf('YES'), sharesOf('NO')]);
        assert.equal(next.balance, 1000 - 80);
        const l = await a.fetch('/api/admin/ledger', { headers: admin.auth });
        assert.equal((await body(l)).data.difference, 0);
      } finally {
        await cluster.close();
      }
    });
  });
}
