import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { createMarket, type TestUser, trade } from './helpers/trading.ts';

function quote(t: TestApp, user: TestUser, marketId: string, body: Record<string, unknown>) {
  return t.request({
    method: 'POST',
    url: `/api/markets/${marketId}/quote`,
    headers: user.auth,
    payload: body,
  });
}

for (const kind of databaseKinds()) {
  describe(`trade quotes (${kind})`, () => {
    let t: TestApp;
    let admin: TestUser;
    let alice: TestUser;

    before(async () => {
      t = await buildTestApp(kind);
      admin = await t.user('admin');
      alice = await t.user();
    });
    after(() => t.close());

    /** Everything a quote could touch: the market row, every balance and position, trades, events. */
    async function snapshot() {
      const { db } = t.database;
      return {
        markets: await db.selectFrom('markets').selectAll().orderBy('id').execute(),
        balances: await db.selectFrom('users').select(['id', 'balance']).orderBy('id').execute(),
        positions: await db
          .selectFrom('positions')
          .selectAll()
          .orderBy('marketId')
          .orderBy('userId')
          .orderBy('outcome')
          .execute(),
        trades: (
          await db
            .selectFrom('trades')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
        events: (
          await db
            .selectFrom('events')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      };
    }

    /** Quotes `body`, trades it right after, and asserts the quote named exactly the trade's numbers. */
    async function quoteThenTrade(marketId: string, body: Record<string, unknown>) {
      const q = await quote(t, alice, marketId, body);
      assert.equal(q.statusCode, 200, q.body);
      const quoted = q.json().data;
      const res = await trade(t, alice, marketId, body);
      assert.equal(res.statusCode, 201, res.body);
      const done = res.json().data;
      assert.equal(quoted.outcome, done.trade.outcome);
      assert.equal(quoted.side, done.trade.side);
      assert.equal(quoted.amount, done.trade.amount);
      assert.equal(quoted.shares, done.trade.shares);
      assert.equal(quoted.averagePrice, done.trade.amount / done.trade.shares);
      assert.equal(quoted.probabilityBefore, done.trade.probabilityBefore);
      assert.equal(quoted.probabilityAfter, done.trade.probabilityAfter);
      assert.equal(quoted.marketProbability, done.market.probability);
      assert.equal(quoted.balanceAfter, done.balance);
      assert.deepEqual(quoted.guard, { passes: true, code: null, message: null });
      return quoted;
    }

    test('a quote and the same trade right after give exactly the same numbers: buy and sell, YES and NO', async () => {
      const m = await createMarket(t, admin, { liquidity: 37 });
      const yes = await quoteThenTrade(m.id, { outcome: 'YES', side: 'buy', amount: 13.37 });
      const no = await quoteThenTrade(m.id, { outcome: 'NO', side: 'buy', amount: 7.01 });
      assert.ok(yes.shares > 0 && no.shares > 0);
      // Odd share counts, so the proceeds' floor to a cent matters.
      await quoteThenTrade(m.id, { outcome: 'YES', side: 'sell', amount: 2.718283 });
      await quoteThenTrade(m.id, { outcome: 'NO', side: 'sell', amount: 1.000001 });
      await quoteThenTrade(m.id, { outcome: 'YES', side: 'buy', amount: 0.01 });
    });

    test('a quote changes nothing: balances, the market row, positions, trades and events stay the same', async () => {
      const m = await createMarket(t, admin);
      assert.equal((await trade(t, alice, m.id, { outcome: 'NO', side: 'buy', amount: 5 })).statusCode, 201);
      const before = await snapshot();
      for (const body of [
        { outcome: 'YES', side: 'buy', amount: 20 },
        { outcome: 'NO', side: 'sell', amount: 1 },
        { outcome: 'YES', side: 'buy', amount: 20, maxProbability: 0.51 },
      ]) {
        const res = await quote(t, alice, m.id, body);
        assert.equal(res.statusCode, 200, res.body);
      }
      assert.deepEqual(await snapshot(), before);
    });

    test('the slippage guard is reported in the quote, and the trade is refused as it says', async () => {
      const m = await createMarket(t, admin, { liquidity: 50 });
      const body = { outcome: 'YES', side: 'buy', amount: 20, maxProbability: 0.55 };
      const q = await quote(t, alice, m.id, body);
      assert.equal(q.statusCode, 200, q.body);
      const { guard, probabilityAfter } = q.json().data;
      assert.ok(probabilityAfter > 0.55);
      assert.equal(guard.passes, false);
      assert.equal(guard.code, 'SLIPPAGE');
      const res = await trade(t, alice, m.id, body);
      assert.equal(res.statusCode, 409);
      assert.equal(res.json().code, 'SLIPPAGE');
      assert.equal(res.json().error, guard.message);
    });

    test('a closed market: 409 MARKET_NOT_TRADABLE, as the trade answers', async () => {
      const m = await createMarket(t, admin);
      await t.database.db
        .updateTable('markets')
        .set({ closesAt: new Date(Date.now() - 1000) })
        .where('id', '=', m.id)
        .execute();
      const body = { outcome: 'YES', side: 'buy', amount: 1 };
      const q = await quote(t, alice, m.id, body);
      const tr = await trade(t, alice, m.id, body);
      assert.equal(q.statusCode, 409, q.body);
      assert.equal(tr.statusCode, 409);
      assert.equal(q.json().code, 'MARKET_NOT_TRADABLE');
      assert.equal(q.json().code, tr.json().code);
    });

    test('unaffordable: 422 INSUFFICIENT_BALANCE and INSUFFICIENT_SHARES, as the trade answers', async () => {
      const m = await createMarket(t, admin);
      const poor = await t.user();
      for (const [body, code] of [
        [{ outcome: 'YES', side: 'buy', amount: 1000.01 }, 'INSUFFICIENT_BALANCE'],
        [{ outcome: 'NO', side: 'sell', amount: 1 }, 'INSUFFICIENT_SHARES'],
      ] as const) {
        const q = await quote(t, poor, m.id, body);
        const tr = await trade(t, poor, m.id, body);
        assert.equal(q.statusCode, 422, q.body);
        assert.equal(tr.statusCode, 422);
        assert.equal(q.json().code, code);
        assert.equal(q.json().error, tr.json().error);
      }
    });

    test('a bad body is a 400 in the envelope; no sign-in is a 401; an unknown market a 404', async () => {
      const m = await createMarket(t, admin);
      for (const body of [
        { outcome: 'MAYBE', side: 'buy', amount: 1 },
        { outcome: 'YES', side: 'buy', amount: 1.001 },
        { outcome: 'YES', side: 'sell', amount: 1, maxProbability: 0.5 },
        { outcome: 'YES', side: 'buy', amount: 1, extra: true },
      ]) {
        const res = await quote(t, alice, m.id, body);
        assert.equal(res.statusCode, 400, res.body);
        const envelope = res.json();
        assert.equal(envelope.success, false);
        assert.equal(typeof envelope.code, 'string');
        assert.equal(typeof envelope.requestId, 'string');
      }
      const anonymous = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/quote`,
        payload: { outcome: 'YES', side: 'buy', amount: 1 },
      });
      assert.equal(anonymous.statusCode, 401);
      const unknown = await quote(t, alice, '00000000-0000-4000-8000-000000000000', {
        outcome: 'YES',
        side: 'buy',
        amount: 1,
      });
      assert.equal(unknown.statusCode, 404);
    });
  });
}

describe('trade quotes: rate limit', () => {
  test('quotes count against the general limit, not the stricter trade limit', async () => {
    const t = await buildTestApp('pglite', { TRADE_RATE_LIMIT_PER_MINUTE: '1', RATE_LIMIT_PER_MINUTE: '20' });
    try {
      const admin = await t.user('admin');
      const m = await createMarket(t, admin);
      const body = { outcome: 'YES', side: 'buy', amount: 1 };
      for (let i = 0; i < 3; i++) assert.equal((await quote(t, admin, m.id, body)).statusCode, 200);
      let limited: { statusCode: number; json: () => { code: string } } | undefined;
      for (let i = 0; i < 25 && !limited; i++) {
        const res = await quote(t, admin, m.id, body);
        if (res.statusCode === 429) limited = res;
        else assert.equal(res.statusCode, 200, res.body);
      }
      assert.ok(limited, 'the general limit applies to quotes');
      assert.equal(limited.json().code, 'RATE_LIMITED');
    } finally {
      await t.close();
    }
  });
});
