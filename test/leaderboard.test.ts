import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createCacheAside } from '../src/lib/cache/cache.ts';
import { createMemoryCache } from '../src/lib/cache/memory-cache.ts';
import { createLeaderboardModule } from '../src/modules/leaderboard/index.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { balanceOf, createMarket, ledger, type TestUser, trade } from './helpers/trading.ts';

for (const kind of databaseKinds()) {
  describe(`portfolio and leaderboards (${kind})`, () => {
    let t: TestApp;
    let admin: TestUser;
    let now = new Date();
    let jobs: ReturnType<typeof createLeaderboardModule>;
    const run = (name: string) => jobs.schedules.find((s) => s.name === name)!.run();

    before(async () => {
      t = await buildTestApp(kind, { WORKERS: '0' });
      admin = await t.user('admin');
      jobs = createLeaderboardModule({
        database: t.database,
        config: t.config,
        users: { findById: async () => true },
        cache: createCacheAside(createMemoryCache(), { log: t.app.log, followed: false }),
        log: t.app.log,
        now: () => now,
      });
    });
    after(() => t.close());

    const get = async (url: string, user?: TestUser) => {
      const res = await t.request({ method: 'GET', url, headers: user?.auth ?? {} });
      return res;
    };
    const board = async (query: string) => {
      const res = await get(`/api/leaderboard?${query}`);
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as {
        data: { rank: number; user: { id: string }; value: number }[];
        meta: { hasMore: boolean; nextCursor: string | null };
      };
    };

    test('a position is valued at exactly what selling it returns, and the profit is what the sale realises', async () => {
      const creator = await t.user();
      const alice = await t.user();
      const m = await createMarket(t, creator, { liquidity: 100 });
      await trade(t, alice, m.id, { outcome: 'YES', side: 'buy', amount: 40 });
      await trade(t, (await t.user()) as TestUser, m.id, { outcome: 'NO', side: 'buy', amount: 15 });
      const portfolio = (await get('/api/me/portfolio', alice)).json().data;
      const [position] = portfolio.positions;
      assert.equal(position.valuation, 'sale');
      assert.equal(position.costBasis, 40);
      const before = await balanceOf(t, alice.id);
      assert.equal(portfolio.balance, before / 100);
      assert.equal(portfolio.netWorth, portfolio.balance + portfolio.positionsValue);

      const sell = await trade(t, alice, m.id, { outcome: 'YES', side: 'sell', amount: position.shares });
      assert.equal(sell.statusCode, 201, sell.body);
      assert.equal(sell.json().data.trade.amount, position.value);
      assert.equal((await balanceOf(t, alice.id)) - before, Math.round(position.value * 100));

      const after = (await get('/api/me/portfolio', alice)).json().data;
      assert.equal(after.positionsValue, 0);
      assert.equal(after.unrealisedProfit, 0);
      assert.equal(after.realisedProfit, position.profit);
      assert.equal(after.netWorth, portfolio.netWorth);
    });

    test('after resolution the winner realises payout minus what was paid, the loser the loss', async () => {
      const creator = await t.user();
      const [winner, loser] = [await t.user(), await t.user()];
      const m = await createMarket(t, creator, { liquidity: 100 });
      await trade(t, winner, m.id, { outcome: 'YES', side: 'buy', amount: 30 });
      await trade(t, loser, m.id, { outcome: 'NO', side: 'buy', amount: 20 });
      const shares = (await get('/api/me/portfolio', winner)).json().data.positions[0].shares;
      const res = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/resolve`,
        headers: admin.auth,
        payload: { outcome: 'YES' },
      });
      assert.equal(res.statusCode, 200, res.body);
      const won = (await get('/api/me/portfolio', winner)).json().data;
      assert.equal(won.positions[0].valuation, 'settled');
      assert.equal(won.positions[0].value, Math.floor(shares * 100) / 100);
      assert.equal(won.realisedProfit, Math.floor(shares * 100) / 100 - 30);
      assert.equal(won.positionsValue, 0);
      const lost = (await get('/api/me/portfolio', loser)).json().data;
      assert.equal(lost.realisedProfit, -20);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('a multiple-choice holding is its answer, valued at its sale, open orders kept in net worth, and resolving realises payout minus spend', async () => {
      const creator = await t.user();
      const alice = await t.user();
      const m = await createMarket(t, creator, { answers: ['A', 'B', 'C'], liquidity: 100 });
      const [a, b, c] = m.answers as { id: string }[];
      const bought = await trade(t, alice, m.id, { answerId: b!.id, side: 'buy', amount: 30 });
      assert.equal(bought.statusCode, 201, bought.body);
      await trade(t, await t.user(), m.id, { answerId: a!.id, side: 'buy', amount: 10 });
      const portfolio = (await get('/api/me/portfolio', alice)).json().data;
      assert.equal(portfolio.positions.length, 1);
      const [position] = portfolio.positions;
      assert.equal(position.answerId, b!.id);
      assert.equal(position.outcome, null);
      assert.equal(position.valuation, 'sale');
      assert.equal(position.costBasis, 30);
      assert.equal(portfolio.reserved, 0);
      assert.equal(portfolio.netWorth, portfolio.balance + portfolio.positionsValue);

      // Resting orders move money and shares out of reach, not out of the portfolio.
      const order = (body: Record<string, unknown>) =>
        t.request({ method: 'POST', url: `/api/markets/${m.id}/orders`, headers: alice.auth, payload: body });
      const buyOrder = await order({ answerId: c!.id, side: 'buy', amount: 5, limitProbability: 0.01 });
      assert.equal(buyOrder.statusCode, 201, buyOrder.body);
      const sellOrder = await order({ answerId: b!.id, side: 'sell', amount: 1, limitProbability: 0.99 });
      assert.equal(sellOrder.statusCode, 201, sellOrder.body);
      const resting = (await get('/api/me/portfolio', alice)).json().data;
      assert.equal(resting.reserved, 5);
      assert.equal(resting.balance, portfolio.balance - 5);
      assert.equal(resting.positions[0].shares, position.shares);
      assert.equal(resting.positions[0].reservedShares, 1);
      assert.equal(resting.positions[0].value, position.value);
      assert.equal(resting.netWorth, portfolio.netWorth);
      assert.equal(resting.profit, portfolio.profit);
      for (const placed of [buyOrder, sellOrder]) {
        const res = await t.request({
          method: 'DELETE',
          url: `/api/me/orders/${placed.json().data.order.id}`,
          headers: alice.auth,
        });
        assert.equal(res.statusCode, 200, res.body);
      }

      const sell = await trade(t, alice, m.id, { answerId: b!.id, side: 'sell', amount: position.shares });
      assert.equal(sell.statusCode, 201, sell.body);
      assert.equal(sell.json().data.trade.amount, position.value);
      const soldCents = Math.round(position.value * 100);

      const again = await trade(t, alice, m.id, { answerId: b!.id, side: 'buy', amount: 20 });
      assert.equal(again.statusCode, 201, again.body);
      const payout = Math.floor(again.json().data.trade.shares * 100);
      const res = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/resolve`,
        headers: admin.auth,
        payload: { answerId: b!.id },
      });
      assert.equal(res.statusCode, 200, res.body);
      const won = (await get('/api/me/portfolio', alice)).json().data;
      assert.equal(won.positions.length, 1);
      assert.equal(won.positions[0].answerId, b!.id);
      assert.equal(won.positions[0].valuation, 'settled');
      assert.equal(won.positions[0].value, payout / 100);
      // Spent 30 + 20, got the sale back and 1 unit per winning share.
      assert.equal(Math.round(won.realisedProfit * 100), soldCents - 3000 + payout - 2000);
      assert.equal(won.unrealisedProfit, 0);
      assert.equal(won.positionsValue, 0);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('history serves the snapshots the job takes, one per user per day', async () => {
      const user = await t.user();
      const m = await createMarket(t, await t.user(), { liquidity: 100 });
      await trade(t, user, m.id, { outcome: 'YES', side: 'buy', amount: 10 });
      const today = new Date();
      const tenDaysAgo = new Date(today.getTime() - 10 * 86_400_000);
      const day = (d: Date) => d.toISOString().slice(0, 10);
      now = tenDaysAgo;
      await run('leaderboard.snapshot-portfolios');
      await run('leaderboard.snapshot-portfolios'); // idempotent: still one row for the day
      now = today;
      await run('leaderboard.snapshot-portfolios');
      const all = (await get(`/api/users/${user.id}/portfolio/history?period=all`)).json().data;
      assert.deepEqual(
        all.map((p: { day: string }) => p.day),
        [day(tenDaysAgo), day(today)],
      );
      assert.equal(all[0].balance, (await balanceOf(t, user.id)) / 100);
      assert.equal(all[0].netWorth, all[0].balance + all[0].positionsValue);
      const week = (await get(`/api/users/${user.id}/portfolio/history?period=week`)).json().data;
      assert.deepEqual(
        week.map((p: { day: string }) => p.day),
        [day(today)],
      );
      now = new Date();
    });

    test('unknown user → 404, unknown period or board → 400', async () => {
      const missing = await get('/api/users/00000000-0000-4000-8000-000000000000/portfolio/history');
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().code, 'NOT_FOUND');
      assert.equal((await get('/api/leaderboard?period=year')).statusCode, 400);
      assert.equal((await get('/api/leaderboard?by=luck')).statusCode, 400);
      const user = await t.user();
      assert.equal((await get(`/api/users/${user.id}/portfolio/history?period=decade`)).statusCode, 400);
    });

    test('a trade shows on the boards after the refresh, not before: requests read the aggregates', async () => {
      now = new Date();
      await run('leaderboard.refresh');
      const creator = await t.user();
      const whale = await t.user();
      const m = await createMarket(t, creator, { liquidity: 100 });
      await trade(t, whale, m.id, { outcome: 'YES', side: 'buy', amount: 900 });
      const stale = await board('by=volume&period=all');
      assert.ok(!stale.data.some((e) => e.user.id === whale.id));

      await run('leaderboard.refresh');
      const volume = await board('by=volume&period=all');
      assert.equal(volume.data[0]!.user.id, whale.id);
      assert.equal(volume.data[0]!.value, 900);
      assert.ok(volume.data.every((e, i) => i === 0 || e.value <= volume.data[i - 1]!.value));
      const me = (await get('/api/me/leaderboard?by=volume&period=day', whale)).json().data;
      assert.equal(me.rank, 1);

      const profit = await board('by=profit&period=all');
      assert.ok(profit.data.every((e, i) => i === 0 || e.value <= profit.data[i - 1]!.value));
      assert.ok(profit.data.some((e) => e.user.id === whale.id));
    });

    test('creators rank by distinct traders, and periods keep old trades out of day and week', async () => {
      const popular = await t.user();
      const quiet = await t.user();
      const a = await createMarket(t, popular, { liquidity: 100 });
      const b = await createMarket(t, quiet, { liquidity: 100 });
      const traders = [await t.user(), await t.user(), await t.user()];
      for (const u of traders) await trade(t, u, a.id, { outcome: 'YES', side: 'buy', amount: 1 });
      await trade(t, traders[0]!, a.id, { outcome: 'NO', side: 'buy', amount: 1 }); // same trader again
      await trade(t, traders[0]!, b.id, { outcome: 'YES', side: 'buy', amount: 1 });
      const old = await t.user();
      await trade(t, old, b.id, { outcome: 'YES', side: 'buy', amount: 50 });
      await trade(t, old, b.id, { outcome: 'YES', side: 'buy', amount: 50 });
      // Ten days ago: the first run recounts everything, so the backdated trades land on their day.
      await sql`update trades set created_at = now() - interval '10 days' where user_id = ${old.id}`.execute(
        t.database.db,
      );
      await sql`delete from leaderboard_state`.execute(t.database.db);
      await run('leaderboard.refresh');

      const all = await board('by=traders&period=all&limit=100');
      const rankOf = (id: string, data: typeof all.data) => data.find((e) => e.user.id === id);
      assert.equal(rankOf(popular.id, all.data)!.value, 3);
      assert.equal(rankOf(quiet.id, all.data)!.value, 2);
      assert.ok(rankOf(popular.id, all.data)!.rank < rankOf(quiet.id, all.data)!.rank);
      const week = await board('by=traders&period=week&limit=100');
      assert.equal(rankOf(quiet.id, week.data)!.value, 1);
      assert.equal(rankOf(old.id, (await board('by=volume&period=month&limit=100')).data)!.value, 100);
      assert.equal(rankOf(old.id, (await board('by=volume&period=week&limit=100')).data), undefined);

      const first = await board('by=traders&period=all&limit=1');
      assert.equal(first.meta.hasMore, true);
      const second = await board(`by=traders&period=all&limit=1&cursor=${first.meta.nextCursor}`);
      assert.equal(second.data[0]!.rank, 2);
    });
  });
}
