import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createEventRepository } from '../src/modules/events/events.repository.ts';
import { createMarketRepository } from '../src/modules/markets/markets.repository.ts';
import { createLedgerRepository } from '../src/modules/trading/ledger.repository.ts';
import { createOrderMatcher } from '../src/modules/trading/order-matcher.ts';
import { createOrdersRepository } from '../src/modules/trading/orders.repository.ts';
import { createOrdersService } from '../src/modules/trading/orders.service.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { balanceOf, createMarket, ledger, type TestUser, trade } from './helpers/trading.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const kind of databaseKinds()) {
  describe(`limit orders (${kind})`, () => {
    let t: TestApp;
    let admin: TestUser;

    before(async () => {
      t = await buildTestApp(kind, { WRITE_DEADLINE_MS: '60000' });
      admin = await t.user('admin');
    });
    after(() => t.close());

    const place = (user: TestUser, marketId: string, body: Record<string, unknown>) =>
      t.request({
        method: 'POST',
        url: `/api/markets/${marketId}/orders`,
        headers: user.auth,
        payload: body,
      });
    const cancel = (user: TestUser, orderId: string) =>
      t.request({ method: 'DELETE', url: `/api/me/orders/${orderId}`, headers: user.auth });
    const orderRow = (id: string) =>
      t.database.db.selectFrom('orders').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const tradesOf = async (userId: string, marketId: string) =>
      t.database.db
        .selectFrom('trades')
        .selectAll()
        .where('userId', '=', userId)
        .where('marketId', '=', marketId)
        .execute();
    const positionOf = async (userId: string, marketId: string, outcome: 'YES' | 'NO') =>
      (
        await t.database.db
          .selectFrom('positions')
          .selectAll()
          .where('userId', '=', userId)
          .where('marketId', '=', marketId)
          .where('outcome', '=', outcome)
          .executeTakeFirst()
      )?.shares ?? 0;
    /** The expiry schedule's work, run now (the schedule itself fires at most once a minute). */
    const expireDue = () => {
      const db = t.database.db;
      const ledgerRepo = createLedgerRepository(db);
      const markets = createMarketRepository(db);
      const orders = createOrdersRepository(db);
      const events = createEventRepository(db);
      const matcher = createOrderMatcher({ ledger: ledgerRepo, orders, events, maxFills: 100 });
      return createOrdersService({
        db,
        ledger: ledgerRepo,
        markets,
        orders,
        matcher,
        maxOpenPerMarket: 20,
        deadlineMs: 60_000,
      }).expireDue();
    };

    test('a limit outside (0, 1) or with more than 3 decimals is a 400 and reserves nothing', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      for (const limitProbability of [0, 1, -0.2, 1.5, 0.1234, 0.5005]) {
        const res = await place(bob, m.id, { outcome: 'YES', side: 'buy', amount: 10, limitProbability });
        assert.equal(res.statusCode, 400, `${limitProbability}: ${res.body}`);
        assert.equal(res.json().code, 'VALIDATION_ERROR');
      }
      assert.equal(await balanceOf(t, bob.id), 100_000);
      const ok = await place(bob, m.id, { outcome: 'YES', side: 'buy', amount: 10, limitProbability: 0.125 });
      assert.equal(ok.statusCode, 201, ok.body);
    });

    test('an order that cannot be reserved (balance or shares) is a 422 and reserves nothing', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      const rich = await place(bob, m.id, {
        outcome: 'YES',
        side: 'buy',
        amount: 5000,
        limitProbability: 0.3,
      });
      assert.equal(rich.statusCode, 422, rich.body);
      assert.equal(rich.json().code, 'INSUFFICIENT_BALANCE');
      const sell = await place(bob, m.id, { outcome: 'YES', side: 'sell', amount: 1, limitProbability: 0.7 });
      assert.equal(sell.statusCode, 422, sell.body);
      assert.equal(sell.json().code, 'INSUFFICIENT_SHARES');
      assert.equal(await balanceOf(t, bob.id), 100_000);
      const { rows } = await sql<{
        n: number;
      }>`select count(*)::int as n from orders where user_id = ${bob.id}`.execute(t.database.db);
      assert.equal(rows[0]!.n, 0);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('a buy below the price rests: its money is reserved, the ledger counts it, the orderbook shows it', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      const res = await place(bob, m.id, { outcome: 'YES', side: 'buy', amount: 20, limitProbability: 0.4 });
      assert.equal(res.statusCode, 201, res.body);
      const { order, trade: fill, balance } = res.json().data;
      assert.equal(order.status, 'open');
      assert.equal(fill, null);
      assert.equal(balance, 980);
      assert.equal(order.reserved, 20);
      const l = await ledger(t, admin);
      assert.ok(l.reservations >= 20);
      assert.equal(l.difference, 0);
      const book = await t.request({ method: 'GET', url: `/api/markets/${m.id}/orderbook` });
      assert.equal(book.statusCode, 200);
      assert.deepEqual(book.json().data.levels, [
        {
          outcome: 'YES',
          answerId: m.answers[0].id,
          side: 'buy',
          limitProbability: 0.4,
          amount: 20,
          orders: 1,
        },
      ]);
    });

    test('on a multiple-choice market an order names its answer and fills when trades on other answers move its price', async () => {
      const m = await createMarket(t, admin, { answers: ['Red', 'Green', 'Blue'], liquidity: 20 });
      const [red, green] = m.answers as { id: string }[];
      const bob = await t.user();
      const carol = await t.user();
      const wrong = await place(bob, m.id, {
        outcome: 'YES',
        side: 'buy',
        amount: 10,
        limitProbability: 0.3,
      });
      assert.equal(wrong.statusCode, 400);
      assert.equal(wrong.json().code, 'WRONG_ANSWER_KIND');
      // Green is at 1/3: a buy limited at 0.3 rests.
      const res = await place(bob, m.id, {
        answerId: green!.id,
        side: 'buy',
        amount: 10,
        limitProbability: 0.3,
      });
      assert.equal(res.statusCode, 201, res.body);
      const { order } = res.json().data;
      assert.deepEqual([order.status, order.answerId, order.outcome], ['open', green!.id, null]);
      // Carol buys Red: every other answer's price falls, Green's below 0.3, and Bob's order fills.
      assert.equal(
        (await trade(t, carol, m.id, { answerId: red!.id, side: 'buy', amount: 15 })).statusCode,
        201,
      );
      const filled = await orderRow(order.id);
      assert.ok(filled.filledShares > 0, 'the order filled');
      const bobsGreen = await t.database.db
        .selectFrom('positions')
        .select('shares')
        .where('userId', '=', bob.id)
        .where('marketId', '=', m.id)
        .where('answerIndex', '=', 1)
        .executeTakeFirstOrThrow();
      assert.equal(bobsGreen.shares, filled.filledShares);
      const after = (await t.request({ method: 'GET', url: `/api/markets/${m.id}` })).json().data;
      const sum = after.answers.reduce((s: number, a: { probability: number }) => s + a.probability, 0);
      assert.ok(Math.abs(sum - 1) < 1e-9);
      assert.ok(
        after.answers[1].probability <= 0.3 + 1e-9,
        `the fill never pushed Green past its limit: ${after.answers[1].probability}`,
      );
      const mine = (await t.request({ method: 'GET', url: '/api/me/orders', headers: bob.auth })).json().data;
      assert.equal(mine[0].answerId, green!.id);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('a buy above the price fills at once up to its limit and rests the rest', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      const res = await place(bob, m.id, { outcome: 'YES', side: 'buy', amount: 500, limitProbability: 0.6 });
      assert.equal(res.statusCode, 201, res.body);
      const { order, trade: fill } = res.json().data;
      assert.equal(order.status, 'open');
      assert.ok(fill.probabilityAfter <= 0.6 && fill.probabilityAfter > 0.599, String(fill.probabilityAfter));
      assert.equal(order.remaining, 500 - fill.amount);
      assert.equal(order.reserved, order.remaining);
      assert.equal(await positionOf(bob.id, m.id, 'YES'), fill.shares * 1e6);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test("a trade that moves the price through a resting buy fills it and the owner's position grows", async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      const carol = await t.user();
      const res = await place(bob, m.id, { outcome: 'YES', side: 'buy', amount: 5, limitProbability: 0.45 });
      const orderId = res.json().data.order.id;
      assert.equal(await positionOf(bob.id, m.id, 'YES'), 0);
      // Carol buys NO: YES falls below 0.45, and Bob's order buys YES back up to it.
      const taker = await trade(t, carol, m.id, { outcome: 'NO', side: 'buy', amount: 30 });
      assert.equal(taker.statusCode, 201, taker.body);
      const row = await orderRow(orderId);
      assert.equal(row.status, 'filled');
      assert.equal(row.reserved, 0);
      assert.ok((await positionOf(bob.id, m.id, 'YES')) > 0);
      const bobTrades = await tradesOf(bob.id, m.id);
      assert.equal(bobTrades.length, 1);
      assert.equal(bobTrades[0]!.amount, 500);
      // The fill is a trade like any other: in the market's trade list and the event log.
      const events = await t.database.db
        .selectFrom('events')
        .select('payload')
        .where('marketId', '=', m.id)
        .where('type', '=', 'trade.created')
        .execute();
      assert.ok(events.some((e) => (e.payload as { trade: { id: string } }).trade.id === bobTrades[0]!.id));
      assert.equal(await balanceOf(t, bob.id), 100_000 - 500);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('a resting sell reserves its shares and fills when a buy lifts the price through it', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      const carol = await t.user();
      await trade(t, bob, m.id, { outcome: 'YES', side: 'buy', amount: 20 });
      const held = await positionOf(bob.id, m.id, 'YES');
      const res = await place(bob, m.id, { outcome: 'YES', side: 'sell', amount: 5, limitProbability: 0.7 });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(await positionOf(bob.id, m.id, 'YES'), held - 5_000_000);
      const before = await balanceOf(t, bob.id);
      await trade(t, carol, m.id, { outcome: 'YES', side: 'buy', amount: 200 });
      const row = await orderRow(res.json().data.order.id);
      assert.ok(row.filledShares > 0);
      assert.ok((await balanceOf(t, bob.id)) > before);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test("cancelling someone else's order is a 404, a filled one a 409; a cancel returns the reservation", async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      const eve = await t.user();
      const resting = (
        await place(bob, m.id, { outcome: 'YES', side: 'buy', amount: 10, limitProbability: 0.2 })
      ).json().data.order;
      const theirs = await cancel(eve, resting.id);
      assert.equal(theirs.statusCode, 404, theirs.body);
      assert.equal((await orderRow(resting.id)).status, 'open');
      const filled = (
        await place(bob, m.id, { outcome: 'YES', side: 'buy', amount: 1, limitProbability: 0.9 })
      ).json().data.order;
      assert.equal(filled.status, 'filled');
      const late = await cancel(bob, filled.id);
      assert.equal(late.statusCode, 409, late.body);
      assert.equal(late.json().code, 'ORDER_NOT_OPEN');
      const before = await balanceOf(t, bob.id);
      const ok = await cancel(bob, resting.id);
      assert.equal(ok.statusCode, 200, ok.body);
      assert.equal(ok.json().data.status, 'cancelled');
      assert.equal(await balanceOf(t, bob.id), before + 1000);
      assert.equal((await ledger(t, admin)).difference, 0);
      // The caller's list, filtered and paged.
      const open = await t.request({
        method: 'GET',
        url: '/api/me/orders?status=cancelled',
        headers: bob.auth,
      });
      assert.deepEqual(
        open.json().data.map((o: { id: string }) => o.id),
        [resting.id],
      );
      const page1 = await t.request({ method: 'GET', url: '/api/me/orders?limit=1', headers: bob.auth });
      assert.equal(page1.json().data[0].id, filled.id);
      const page2 = await t.request({
        method: 'GET',
        url: `/api/me/orders?limit=1&cursor=${page1.json().meta.nextCursor}`,
        headers: bob.auth,
      });
      assert.equal(page2.json().data[0].id, resting.id);
      assert.equal(page2.json().meta.hasMore, false);
    });

    test('an order that commits while a trade waits for the market fills if that trade crosses it', {
      skip: kind === 'pglite' ? 'PGlite runs one transaction at a time' : false,
    }, async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      const carol = await t.user();
      let taker: ReturnType<typeof trade> | undefined;
      // An order placement, written by hand to hold the market's lock while the trade arrives:
      // the trade's lock waits for it, and only then may the trade look for resting orders.
      await t.database.db.transaction().execute(async (trx) => {
        await sql`select id from markets where id = ${m.id} for no key update`.execute(trx);
        await sql`update users set balance = balance - 500 where id = ${bob.id}`.execute(trx);
        await sql`insert into orders (market_id, user_id, answer_index, side, limit_milli, amount, remaining, reserved)
                  values (${m.id}, ${bob.id}, 0, 'buy', 450, 500, 500, 500)`.execute(trx);
        taker = trade(t, carol, m.id, { outcome: 'NO', side: 'buy', amount: 30 });
        for (let waited = 0; ; waited += 10) {
          const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'`.execute(t.database.db);
          if (rows[0]!.n > 0) break;
          assert.ok(waited < 5000, 'the trade never waited for the market lock');
          await sleep(10);
        }
      });
      const res = await taker!;
      assert.equal(res.statusCode, 201, res.body);
      const order = await t.database.db
        .selectFrom('orders')
        .selectAll()
        .where('userId', '=', bob.id)
        .executeTakeFirstOrThrow();
      assert.equal(order.status, 'filled');
      assert.equal((await tradesOf(bob.id, m.id)).length, 1);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('two trades crossing the same resting order at once fill it once', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      const takers = await Promise.all([t.user(), t.user()]);
      const orderId = (
        await place(bob, m.id, { outcome: 'YES', side: 'buy', amount: 1, limitProbability: 0.45 })
      ).json().data.order.id;
      const results = await Promise.all(
        takers.map((u) => trade(t, u, m.id, { outcome: 'NO', side: 'buy', amount: 40 })),
      );
      assert.deepEqual(
        results.map((r) => r.statusCode),
        [201, 201],
      );
      const row = await orderRow(orderId);
      assert.equal(row.status, 'filled');
      assert.equal((await tradesOf(bob.id, m.id)).length, 1);
      assert.equal(await balanceOf(t, bob.id), 100_000 - 100);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('an expired order never fills, and an expiry racing a fill settles the order exactly once', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      const carol = await t.user();
      const soon = () => new Date(Date.now() + 1500).toISOString();
      const first = (
        await place(bob, m.id, {
          outcome: 'YES',
          side: 'buy',
          amount: 2,
          limitProbability: 0.45,
          expiresAt: soon(),
        })
      ).json().data.order;
      await sleep(1700);
      // Past its expiresAt but not yet swept: a crossing trade does not fill it.
      await trade(t, carol, m.id, { outcome: 'NO', side: 'buy', amount: 30 });
      assert.equal((await orderRow(first.id)).status, 'open');
      assert.equal((await tradesOf(bob.id, m.id)).length, 0);
      assert.equal(await expireDue(), 1);
      const expired = await orderRow(first.id);
      assert.equal(expired.status, 'expired');
      assert.equal(expired.reserved, 0);
      assert.equal(await balanceOf(t, bob.id), 100_000);

      // The race: the sweep and a crossing trade at the order's expiry, in either order.
      await trade(t, carol, m.id, { outcome: 'YES', side: 'buy', amount: 40 });
      const racing = (
        await place(bob, m.id, {
          outcome: 'YES',
          side: 'buy',
          amount: 2,
          limitProbability: 0.4,
          expiresAt: soon(),
        })
      ).json().data.order;
      await sleep(1450);
      const [taker] = await Promise.all([
        trade(t, carol, m.id, { outcome: 'NO', side: 'buy', amount: 60 }),
        sleep(50).then(expireDue),
      ]);
      assert.equal(taker.statusCode, 201);
      await expireDue();
      const row = await orderRow(racing.id);
      const fills = (await tradesOf(bob.id, m.id)).length;
      assert.ok(
        (row.status === 'filled' && fills === 1) || (row.status === 'expired' && fills === 0),
        `${row.status} with ${fills} fills`,
      );
      assert.equal(row.reserved, 0);
      assert.equal(await balanceOf(t, bob.id), 100_000 - row.filledAmount);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('resolution while orders rest cancels them, returns reservations and pays the right positions', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      const dan = await t.user();
      await trade(t, dan, m.id, { outcome: 'YES', side: 'buy', amount: 10 });
      const danShares = await positionOf(dan.id, m.id, 'YES');
      const buy = (
        await place(bob, m.id, { outcome: 'YES', side: 'buy', amount: 30, limitProbability: 0.1 })
      ).json().data.order;
      const sell = (
        await place(dan, m.id, { outcome: 'YES', side: 'sell', amount: 3, limitProbability: 0.95 })
      ).json().data.order;
      const danBalance = await balanceOf(t, dan.id);
      const resolved = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/resolve`,
        headers: admin.auth,
        payload: { outcome: 'YES' },
      });
      assert.equal(resolved.statusCode, 200, resolved.body);
      assert.equal((await orderRow(buy.id)).status, 'cancelled');
      assert.equal((await orderRow(sell.id)).status, 'cancelled');
      assert.equal(await balanceOf(t, bob.id), 100_000);
      // Dan's reserved shares came home before payout: all his shares pay 1 unit each.
      assert.equal(await positionOf(dan.id, m.id, 'YES'), danShares);
      assert.equal(await balanceOf(t, dan.id), danBalance + Math.floor(danShares / 10_000));
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from orders
        where market_id = ${m.id} and (status = 'open' or reserved > 0)`.execute(t.database.db);
      assert.equal(rows[0]!.n, 0);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('a market cancelled while orders rest returns every reservation', async () => {
      const m = await createMarket(t, admin);
      const bob = await t.user();
      await place(bob, m.id, { outcome: 'NO', side: 'buy', amount: 50, limitProbability: 0.2 });
      const res = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/cancel`,
        headers: admin.auth,
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(await balanceOf(t, bob.id), 100_000);
      assert.equal((await ledger(t, admin)).difference, 0);
    });
  });
}
