import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { cost, priceYes, sharesForMoney } from '../src/domain/binary-lmsr.ts';
import { idempotencyRepository } from '../src/modules/trading/idempotency.repository.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { backgroundQuiet } from './helpers/eventually.ts';
import { balanceOf, createMarket, ledger, type TestUser, trade } from './helpers/trading.ts';

const floor6 = (x: number) => Math.floor(x * 1e6) / 1e6;

for (const kind of databaseKinds()) {
  describe(`trading (${kind})`, () => {
    let t: TestApp;
    let admin: TestUser;
    let alice: TestUser;
    let bob: TestUser;

    before(async () => {
      t = await buildTestApp(kind);
      admin = await t.user('admin');
      alice = await t.user();
      bob = await t.user();
    });
    after(() => t.close());

    test('creating a market funds b·ln 2 from the creator and opens the initial position in the same transaction', async () => {
      const creator = await t.user();
      const m = await createMarket(t, creator, {
        liquidity: 100,
        initialPosition: { outcome: 'YES', amount: 50 },
      });
      const subsidyCents = Math.ceil(100 * Math.LN2 * 100); // 6932
      assert.equal(await balanceOf(t, creator.id), 100_000 - subsidyCents - 5000);
      const shares = floor6(sharesForMoney({ yes: 0, no: 0, b: 100 }, 'YES', 50));
      assert.equal(m.yesShares, shares);
      assert.equal(m.noShares, 0);
      assert.equal(m.liquidity, 100);
      assert.equal(m.volume, 50);
      assert.ok(Math.abs(m.probability - priceYes({ yes: shares, no: 0, b: 100 })) < 1e-12);
      const positions = (
        await t.request({ method: 'GET', url: '/api/me/positions', headers: creator.auth })
      ).json().data;
      assert.equal(positions.length, 1);
      assert.equal(positions[0].shares, shares);
      assert.equal(positions[0].costBasis, 50);
    });

    test('a creator who cannot afford subsidy + initial position gets 422 and nothing of it remains', async () => {
      const creator = await t.user();
      const name = `Unaffordable market ${Date.now()}`;
      const res = await t.request({
        method: 'POST',
        url: '/api/markets',
        headers: creator.auth,
        payload: {
          name,
          category: 'test',
          closesAt: new Date(Date.now() + 86_400_000).toISOString(),
          liquidity: 1000,
          initialPosition: { outcome: 'NO', amount: 400 },
        },
      });
      assert.equal(res.statusCode, 422);
      assert.equal(res.json().code, 'INSUFFICIENT_BALANCE');
      assert.equal(await balanceOf(t, creator.id), 100_000);
      const found = await t.database.db.selectFrom('markets').select('id').where('name', '=', name).execute();
      assert.equal(found.length, 0);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('buys cost what LMSR says and move the price; sells pay the floor of C(q) − C(q − s)', async () => {
      const m = await createMarket(t, admin, { liquidity: 50 });
      const start = await balanceOf(t, alice.id);
      const buy = await trade(t, alice, m.id, { outcome: 'YES', side: 'buy', amount: 20 });
      assert.equal(buy.statusCode, 201, buy.body);
      const b1 = buy.json().data;
      const shares = floor6(sharesForMoney({ yes: 0, no: 0, b: 50 }, 'YES', 20));
      assert.equal(b1.trade.shares, shares);
      assert.equal(b1.trade.amount, 20);
      assert.equal(b1.balance, (start - 2000) / 100);
      assert.ok(Math.abs(b1.market.probability - priceYes({ yes: shares, no: 0, b: 50 })) < 1e-12);
      assert.ok(b1.market.probability > 0.5);
      assert.equal(b1.trade.probabilityBefore, 0.5);

      const nobuy = (await trade(t, bob, m.id, { outcome: 'NO', side: 'buy', amount: 10 })).json().data;
      assert.ok(nobuy.market.probability < b1.market.probability, 'buying NO lowers the YES price');

      const state = { yes: nobuy.market.yesShares, no: nobuy.market.noShares, b: 50 };
      const sell = await trade(t, alice, m.id, { outcome: 'YES', side: 'sell', amount: 1.5 });
      assert.equal(sell.statusCode, 201, sell.body);
      const expected = Math.floor((cost(state) - cost({ ...state, yes: state.yes - 1.5 })) * 100) / 100;
      assert.equal(sell.json().data.trade.amount, expected);
      assert.equal(sell.json().data.position.shares, floor6(shares - 1.5));
      assert.equal(sell.json().data.market.volume, 20 + 10 + expected);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('refusals change nothing: insufficient balance or shares (422), too many decimals (400), slippage (409)', async () => {
      const m = await createMarket(t, admin);
      const poor = await t.user();
      const before = await balanceOf(t, poor.id);
      const cases: [Record<string, unknown>, number, string][] = [
        [{ outcome: 'YES', side: 'buy', amount: 1000.01 }, 422, 'INSUFFICIENT_BALANCE'],
        [{ outcome: 'NO', side: 'sell', amount: 1 }, 422, 'INSUFFICIENT_SHARES'],
        [{ outcome: 'YES', side: 'buy', amount: 1.001 }, 400, 'VALIDATION_ERROR'],
        [{ outcome: 'YES', side: 'buy', amount: 10, maxProbability: 0.51 }, 409, 'SLIPPAGE'],
        [{ outcome: 'YES', side: 'buy', amount: 10, minProbability: 0.1 }, 400, 'VALIDATION_ERROR'],
        [{ outcome: 'MAYBE', side: 'buy', amount: 10 }, 400, 'VALIDATION_ERROR'],
        [{ outcome: 'YES', side: 'buy', amount: -5 }, 400, 'VALIDATION_ERROR'],
      ];
      for (const [body, status, code] of cases) {
        const res = await trade(t, poor, m.id, body);
        assert.equal(res.statusCode, status, JSON.stringify(body));
        assert.equal(res.json().code, code);
      }
      assert.equal(await balanceOf(t, poor.id), before);
      const market = (await t.request({ method: 'GET', url: `/api/markets/${m.id}` })).json().data;
      assert.equal(market.volume, 0);
      assert.equal(market.probability, 0.5);
    });

    test('a market past its close time shows closed and takes no trades (409)', async () => {
      const m = await createMarket(t, admin);
      await t.database.db
        .updateTable('markets')
        .set({ closesAt: new Date(Date.now() - 1000) })
        .where('id', '=', m.id)
        .execute();
      const res = await trade(t, alice, m.id, { outcome: 'YES', side: 'buy', amount: 1 });
      assert.equal(res.statusCode, 409);
      assert.equal(res.json().code, 'MARKET_NOT_TRADABLE');
      assert.equal(
        (await t.request({ method: 'GET', url: `/api/markets/${m.id}` })).json().data.status,
        'closed',
      );
      const listed = (await t.request({ method: 'GET', url: '/api/markets?status=closed&limit=100' })).json()
        .data;
      assert.ok(listed.some((x: { id: string }) => x.id === m.id));
    });

    test('the same Idempotency-Key and body replays the first answer; another body with it is refused', async () => {
      const m = await createMarket(t, admin);
      const body = { outcome: 'NO', side: 'buy', amount: 5 };
      const first = await trade(t, bob, m.id, body, { 'idempotency-key': 'order-42' });
      const second = await trade(t, bob, m.id, body, { 'idempotency-key': 'order-42' });
      assert.equal(first.statusCode, 201);
      assert.equal(second.statusCode, 201);
      assert.equal(second.headers['idempotent-replayed'], 'true');
      assert.deepEqual(second.json().data, first.json().data);
      const other = await trade(t, bob, m.id, { ...body, amount: 6 }, { 'idempotency-key': 'order-42' });
      assert.equal(other.statusCode, 422);
      assert.equal(other.json().code, 'IDEMPOTENCY_KEY_REUSED');
      const trades = (await t.request({ method: 'GET', url: `/api/markets/${m.id}/trades` })).json().data;
      assert.equal(trades.length, 1);
    });

    test('Idempotency-Keys replay for IDEMPOTENCY_KEY_TTL_HOURS; pruned after that, the key trades anew', async () => {
      const m = await createMarket(t, admin);
      const body = { outcome: 'YES', side: 'buy', amount: 2 };
      const old = await trade(t, bob, m.id, body, { 'idempotency-key': 'old-order' });
      const recent = await trade(t, bob, m.id, body, { 'idempotency-key': 'recent-order' });
      assert.equal(old.statusCode, 201);
      assert.equal(recent.statusCode, 201);
      // The first key was used 25 hours ago.
      await sql`update idempotency_keys set created_at = now() - interval '25 hours'
                where user_id = ${bob.id} and key = 'old-order'`.execute(t.database.db);

      // What the hourly maintenance task runs.
      assert.equal(
        await idempotencyRepository.pruneOlderThan(t.database.db, t.config.IDEMPOTENCY_KEY_TTL_HOURS),
        1,
      );

      const again = await trade(t, bob, m.id, body, { 'idempotency-key': 'old-order' });
      assert.equal(again.statusCode, 201);
      assert.equal(again.headers['idempotent-replayed'], undefined);
      assert.notEqual(again.json().data.trade.id, old.json().data.trade.id);
      const replay = await trade(t, bob, m.id, body, { 'idempotency-key': 'recent-order' });
      assert.equal(replay.headers['idempotent-replayed'], 'true');
      const trades = (await t.request({ method: 'GET', url: `/api/markets/${m.id}/trades` })).json().data;
      assert.equal(trades.length, 3);
    });

    test('resolve pays 1 unit per winning share and returns the rest of escrow to the creator, once', async () => {
      const creator = await t.user();
      const m = await createMarket(t, creator, { liquidity: 100 });
      const y = (await trade(t, alice, m.id, { outcome: 'YES', side: 'buy', amount: 30 })).json().data;
      await trade(t, bob, m.id, { outcome: 'NO', side: 'buy', amount: 20 });
      const aliceBefore = await balanceOf(t, alice.id);
      const bobBefore = await balanceOf(t, bob.id);
      const creatorBefore = await balanceOf(t, creator.id);
      const escrow = (
        await t.database.db
          .selectFrom('markets')
          .select('escrow')
          .where('id', '=', m.id)
          .executeTakeFirstOrThrow()
      ).escrow;

      const asUser = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/resolve`,
        headers: creator.auth,
        payload: { outcome: 'YES' },
      });
      assert.equal(asUser.statusCode, 403, 'the creator may not resolve before close');
      const res = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/resolve`,
        headers: admin.auth,
        payload: { outcome: 'YES' },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().data.status, 'resolved');
      assert.equal(res.json().data.outcome, 'YES');

      const payout = Math.floor(y.position.shares * 100);
      assert.equal(await balanceOf(t, alice.id), aliceBefore + payout);
      assert.equal(await balanceOf(t, bob.id), bobBefore);
      assert.equal(await balanceOf(t, creator.id), creatorBefore + escrow - payout);
      const again = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/resolve`,
        headers: admin.auth,
        payload: { outcome: 'NO' },
      });
      assert.equal(again.statusCode, 409);
      assert.equal((await trade(t, alice, m.id, { outcome: 'YES', side: 'buy', amount: 1 })).statusCode, 409);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('the creator may resolve once the market has closed', async () => {
      const creator = await t.user();
      const m = await createMarket(t, creator);
      await t.database.db
        .updateTable('markets')
        .set({ closesAt: new Date(Date.now() - 1000) })
        .where('id', '=', m.id)
        .execute();
      const res = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/resolve`,
        headers: creator.auth,
        payload: { outcome: 'NO' },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(await balanceOf(t, creator.id), 100_000, 'with no trades the whole subsidy comes back');
    });

    test("cancel refunds each trader's net spend and the creator's subsidy; only moderators and admins may", async () => {
      const creator = await t.user();
      const trader = await t.user();
      const m = await createMarket(t, creator);
      await trade(t, trader, m.id, { outcome: 'YES', side: 'buy', amount: 40 });
      await trade(t, trader, m.id, { outcome: 'NO', side: 'buy', amount: 15.5 });
      const denied = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/cancel`,
        headers: creator.auth,
      });
      assert.equal(denied.statusCode, 403);
      const res = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/cancel`,
        headers: admin.auth,
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().data.status, 'cancelled');
      assert.equal(await balanceOf(t, trader.id), 100_000);
      assert.equal(await balanceOf(t, creator.id), 100_000);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('a market with trades cannot be deleted (409); one without returns its subsidy', async () => {
      const creator = await t.user();
      const traded = await createMarket(t, creator);
      await trade(t, alice, traded.id, { outcome: 'YES', side: 'buy', amount: 1 });
      const refused = await t.request({
        method: 'DELETE',
        url: `/api/markets/${traded.id}`,
        headers: creator.auth,
      });
      assert.equal(refused.statusCode, 409);
      assert.equal(refused.json().code, 'MARKET_HAS_TRADES');
      const quiet = await createMarket(t, creator);
      const before = await balanceOf(t, creator.id);
      assert.equal(
        (await t.request({ method: 'DELETE', url: `/api/markets/${quiet.id}`, headers: creator.auth }))
          .statusCode,
        204,
      );
      assert.equal(await balanceOf(t, creator.id), before + Math.ceil(100 * Math.LN2 * 100));
    });

    test('trade history pages newest first; include=market loads markets in the same query', async () => {
      const trader = await t.user();
      const markets = [];
      for (let i = 0; i < 5; i++) markets.push(await createMarket(t, admin));
      for (const m of markets) {
        await trade(t, trader, m.id, { outcome: 'YES', side: 'buy', amount: 2 });
        await trade(t, trader, m.id, { outcome: 'NO', side: 'buy', amount: 1 });
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/api/me/trades?limit=3${cursor ? `&cursor=${cursor}` : ''}`;
        const page = (await t.request({ method: 'GET', url, headers: trader.auth })).json();
        seen.push(...page.data.map((x: { id: string }) => x.id));
        cursor = page.meta.nextCursor;
      } while (cursor);
      assert.equal(seen.length, 10);
      assert.equal(new Set(seen).size, 10);

      // The trades' commits woke the event log's readers (NOTIFY): let their reads finish first.
      await backgroundQuiet(t.database.stats);
      const queriesBefore = t.database.stats.queries;
      const res = await t.request({
        method: 'GET',
        url: '/api/me/trades?limit=10&include=market',
        headers: trader.auth,
      });
      const used = t.database.stats.queries - queriesBefore;
      assert.ok(used <= 2, `${used} queries (auth + one joined query)`);
      const rows = res.json().data;
      assert.equal(rows[0].market.id, markets[4].id, 'newest first');
      assert.equal(rows[0].market.name, markets[4].name);

      const positions = (
        await t.request({ method: 'GET', url: '/api/me/positions?include=market', headers: trader.auth })
      ).json().data;
      assert.equal(positions.length, 10);
      assert.ok(positions.every((p: { market?: { id: string } }) => p.market?.id));
      const marketPositions = (
        await t.request({ method: 'GET', url: `/api/markets/${markets[0].id}/positions` })
      ).json().data;
      assert.equal(marketPositions.length, 2);
    });

    test('a cached market is never stale after a trade, a resolve or a cancel', async () => {
      const read = async (id: string) =>
        (await t.request({ method: 'GET', url: `/api/markets/${id}` })).json().data;
      const listed = async (id: string) =>
        (await t.request({ method: 'GET', url: '/api/markets?limit=100&sort=createdAt' }))
          .json()
          .data.find((m: { id: string }) => m.id === id);
      const m = await createMarket(t, admin);
      assert.equal((await read(m.id)).volume, 0); // now cached by id
      assert.equal((await listed(m.id)).volume, 0); // and in the first list page
      await trade(t, alice, m.id, { outcome: 'YES', side: 'buy', amount: 3 });
      assert.equal((await read(m.id)).volume, 3);
      assert.equal((await listed(m.id)).volume, 3);
      await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/resolve`,
        headers: admin.auth,
        payload: { outcome: 'NO' },
      });
      assert.equal((await read(m.slug)).status, 'resolved');
      assert.equal((await listed(m.id)).status, 'resolved');

      const c = await createMarket(t, admin);
      assert.equal((await read(c.id)).status, 'active');
      await t.request({ method: 'POST', url: `/api/markets/${c.id}/cancel`, headers: admin.auth });
      assert.equal((await read(c.id)).status, 'cancelled');
    });

    test('the ledger is for admins only', async () => {
      const res = await t.request({ method: 'GET', url: '/api/admin/ledger', headers: alice.auth });
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().code, 'FORBIDDEN');
    });
  });
}
