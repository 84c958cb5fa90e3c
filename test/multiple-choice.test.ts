import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { cost, price } from '../src/domain/lmsr.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { balanceOf, createMarket, ledger, type TestUser, trade } from './helpers/trading.ts';

const TOUR = ['Pogačar', 'Vingegaard', 'Evenepoel', 'Roglič'];
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

interface Answer {
  id: string;
  text: string;
  probability: number;
}

for (const kind of databaseKinds()) {
  describe(`multiple-choice markets (${kind})`, () => {
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

    const assertLedgerZero = async () => assert.equal((await ledger(t, admin)).difference, 0);
    const get = async (id: string) =>
      (await t.request({ method: 'GET', url: `/api/markets/${id}` })).json().data;
    const assertSumsToOne = (answers: Answer[]) =>
      assert.ok(Math.abs(sum(answers.map((a) => a.probability)) - 1) < 1e-9, JSON.stringify(answers));

    test('creating with answers makes an N-outcome market funded with b·ln N, rounded up', async () => {
      const creator = await t.user();
      const before = await balanceOf(t, creator.id);
      const m = await createMarket(t, creator, {
        name: 'Who wins the 2027 Tour de France?',
        answers: TOUR.map((a) => `  ${a} `),
        liquidity: 50,
      });
      assert.equal(m.type, 'multiple');
      assert.deepEqual(
        m.answers.map((a: Answer) => a.text),
        TOUR,
      );
      for (const a of m.answers) assert.ok(Math.abs(a.probability - 0.25) < 1e-12);
      assert.equal(m.outcome, null);
      assert.equal(m.resolvedAnswerId, null);
      // b = 50 units = 5000 cents: 5000·ln 4 = 6931.47… cents, rounded up.
      assert.equal(before - (await balanceOf(t, creator.id)), Math.ceil(5000 * Math.log(4)));
      await assertLedgerZero();

      // A binary market keeps its fields and gets its two answers YES, NO beside them.
      const binary = await createMarket(t, creator);
      assert.equal(binary.type, 'binary');
      assert.deepEqual(
        binary.answers.map((a: Answer) => [a.text, a.probability]),
        [
          ['YES', 0.5],
          ['NO', 0.5],
        ],
      );
      assert.equal(binary.probability, 0.5);
      assert.equal(binary.yesShares, 0);
    });

    test('trades name an answer; every answer is repriced and the prices sum to 1; quote = trade', async () => {
      const m = await createMarket(t, alice, { answers: TOUR, liquidity: 50 });
      const [pog, ving] = m.answers as Answer[];
      const quote = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/quote`,
        headers: bob.auth,
        payload: { answerId: pog!.id, side: 'buy', amount: 20 },
      });
      assert.equal(quote.statusCode, 200, quote.body);
      const q = quote.json().data;
      assert.equal(q.answerId, pog!.id);
      assert.equal(q.outcome, null);
      assertSumsToOne(q.answers);

      const res = await trade(t, bob, m.id, { answerId: pog!.id, side: 'buy', amount: 20 });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json().data;
      assert.equal(body.trade.answerId, pog!.id);
      assert.equal(body.trade.outcome, null);
      assert.equal(body.position.answerId, pog!.id);
      assert.equal(body.trade.shares, q.shares);
      assert.equal(body.trade.amount, 20);
      assertSumsToOne(body.market.answers);
      // LMSR over four answers: 20 units buy Δ with C(q + Δ·e0) − C(q) = 20 (to the micro-share, rounded down).
      const shares = body.trade.shares;
      assert.ok(cost([shares, 0, 0, 0], 50) - cost([0, 0, 0, 0], 50) <= 20 + 1e-9);
      assert.ok(Math.abs(body.trade.probabilityAfter - price([shares, 0, 0, 0], 50, 0)) < 1e-9);
      assert.ok(body.market.answers[0].probability > 0.25);
      assert.ok(body.market.answers[1].probability < 0.25);

      const sold = await trade(t, bob, m.id, { answerId: ving!.id, side: 'buy', amount: 5 });
      assert.equal(sold.statusCode, 201, sold.body);
      const market = await get(m.id);
      assertSumsToOne(market.answers);
      assert.equal(market.volume, 25);
      // The market's probability is its leading answer's.
      assert.equal(market.probability, Math.max(...market.answers.map((a: Answer) => a.probability)));

      // Positions name their answer; a sell of part of one works.
      const positions = await t.request({ method: 'GET', url: `/api/markets/${m.id}/positions` });
      assert.equal(positions.statusCode, 200, positions.body);
      const held = positions.json().data;
      assert.deepEqual(
        new Set(held.map((p: { answerId: string }) => p.answerId)),
        new Set([pog!.id, ving!.id]),
      );
      const sell = await trade(t, bob, m.id, { answerId: pog!.id, side: 'sell', amount: 1 });
      assert.equal(sell.statusCode, 201, sell.body);
      assert.equal(sell.json().data.position.shares, Math.round((shares - 1) * 1e6) / 1e6);
      const mine = await t.request({ method: 'GET', url: '/api/me/trades', headers: bob.auth });
      if (mine.statusCode === 200)
        for (const row of mine.json().data) assert.ok([pog!.id, ving!.id].includes(row.answerId));
      await assertLedgerZero();
    });

    test('resolving to one answer pays 1 unit per winning share and the rest to the creator', async () => {
      const creator = await t.user();
      const trader1 = await t.user();
      const trader2 = await t.user();
      const m = await createMarket(t, creator, { answers: ['Red', 'Green', 'Blue'], liquidity: 20 });
      const [red, green] = m.answers as Answer[];
      const r1 = (await trade(t, trader1, m.id, { answerId: red!.id, side: 'buy', amount: 10 })).json().data;
      const r2 = (await trade(t, trader2, m.id, { answerId: green!.id, side: 'buy', amount: 10 })).json()
        .data;
      const b1 = await balanceOf(t, trader1.id);
      const b2 = await balanceOf(t, trader2.id);
      const c = await balanceOf(t, creator.id);

      const res = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/resolve`,
        headers: admin.auth,
        payload: { answerId: green!.id },
      });
      assert.equal(res.statusCode, 200, res.body);
      const resolved = res.json().data;
      assert.equal(resolved.status, 'resolved');
      assert.equal(resolved.resolvedAnswerId, green!.id);
      assert.equal(resolved.outcome, null);
      assert.equal(await balanceOf(t, trader1.id), b1);
      const payout = Math.floor(r2.trade.shares * 100);
      assert.equal(await balanceOf(t, trader2.id), b2 + payout);
      // The creator gets the escrow back minus the payout: subsidy + 20 units traded − payout.
      const subsidy = Math.ceil(2000 * Math.log(3));
      assert.equal(await balanceOf(t, creator.id), c + subsidy + 2000 - payout);
      assert.ok(r1.trade.shares > 0);
      await assertLedgerZero();

      const again = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/resolve`,
        headers: admin.auth,
        payload: { answerId: red!.id },
      });
      assert.equal(again.statusCode, 409);
    });

    test('cancelling refunds each trader their net spend', async () => {
      const creator = await t.user();
      const trader = await t.user();
      const m = await createMarket(t, creator, { answers: ['A', 'B', 'C', 'D', 'E'] });
      const start = await balanceOf(t, trader.id);
      const creatorStart = await balanceOf(t, creator.id);
      for (const [i, a] of (m.answers as Answer[]).entries())
        assert.equal(
          (await trade(t, trader, m.id, { answerId: a.id, side: 'buy', amount: i + 1 })).statusCode,
          201,
        );
      const res = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/cancel`,
        headers: admin.auth,
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(await balanceOf(t, trader.id), start);
      assert.equal(await balanceOf(t, creator.id), creatorStart + Math.ceil(10_000 * Math.log(5)));
      await assertLedgerZero();
    });

    test('bad input is a 400 and changes nothing', async () => {
      const creator = await t.user();
      const balance = await balanceOf(t, creator.id);
      for (const answers of [
        ['Only one'],
        Array.from({ length: 21 }, (_, i) => `Answer ${i}`),
        ['Paris', ' paris '],
        ['Paris', '   '],
        ['Paris', ''],
      ]) {
        const res = await t.request({
          method: 'POST',
          url: '/api/markets',
          headers: creator.auth,
          payload: {
            name: 'Which city hosts it?',
            category: 'sports',
            closesAt: new Date(Date.now() + 864e5).toISOString(),
            answers,
          },
        });
        assert.equal(res.statusCode, 400, `${JSON.stringify(answers)}: ${res.body}`);
        assert.equal(res.json().success, false);
      }
      assert.equal(await balanceOf(t, creator.id), balance);

      const m = await createMarket(t, creator, { answers: ['X', 'Y', 'Z'] });
      const other = await createMarket(t, creator, { answers: ['P', 'Q'] });
      const binary = await createMarket(t, creator);
      const trader = await t.user();
      const traderBalance = await balanceOf(t, trader.id);
      const refusals: [string, Record<string, unknown>, string][] = [
        [m.id, { answerId: other.answers[0].id, side: 'buy', amount: 1 }, 'UNKNOWN_ANSWER'],
        [m.id, { answerId: binary.answers[0].id, side: 'buy', amount: 1 }, 'UNKNOWN_ANSWER'],
        [binary.id, { answerId: m.answers[0].id, side: 'buy', amount: 1 }, 'UNKNOWN_ANSWER'],
        [m.id, { outcome: 'YES', side: 'buy', amount: 1 }, 'WRONG_ANSWER_KIND'],
        [m.id, { side: 'buy', amount: 1 }, 'VALIDATION_ERROR'],
        [m.id, { outcome: 'YES', answerId: m.answers[0].id, side: 'buy', amount: 1 }, 'VALIDATION_ERROR'],
      ];
      for (const [id, body, code] of refusals) {
        const res = await trade(t, trader, id, body);
        assert.equal(res.statusCode, 400, res.body);
        if (code !== 'VALIDATION_ERROR') assert.equal(res.json().code, code, res.body);
      }
      assert.equal(await balanceOf(t, trader.id), traderBalance);
      const resolve = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/resolve`,
        headers: admin.auth,
        payload: { answerId: other.answers[1].id },
      });
      assert.equal(resolve.statusCode, 400, resolve.body);
      assert.equal(resolve.json().code, 'UNKNOWN_ANSWER');
      assert.equal((await get(m.id)).status, 'active');
      // A binary market accepts its answers' ids as well as YES/NO.
      const byId = await trade(t, trader, binary.id, {
        answerId: binary.answers[1].id,
        side: 'buy',
        amount: 1,
      });
      assert.equal(byId.statusCode, 201, byId.body);
      assert.equal(byId.json().data.trade.outcome, 'NO');
      await assertLedgerZero();
    });

    test('type filter, search by answer text, events carry answerId', async () => {
      const m = await createMarket(t, alice, {
        name: 'Which marsupial wins the zoo vote?',
        answers: ['Quokka', 'Wombat', 'Numbat'],
      });
      const binaryList = (
        await t.request({ method: 'GET', url: '/api/markets?type=binary&limit=100' })
      ).json();
      assert.ok(binaryList.data.every((x: { type: string }) => x.type === 'binary'));
      const multipleList = (
        await t.request({ method: 'GET', url: '/api/markets?type=multiple&limit=100' })
      ).json();
      assert.ok(multipleList.data.length > 0);
      assert.ok(multipleList.data.every((x: { type: string }) => x.type === 'multiple'));
      assert.ok(multipleList.data.some((x: { id: string }) => x.id === m.id));
      const fields = (
        await t.request({ method: 'GET', url: `/api/markets?type=multiple&fields=id,answers&ids=${m.id}` })
      ).json().data;
      assert.deepEqual(Object.keys(fields[0]).sort(), ['answers', 'id']);
      assertSumsToOne(fields[0].answers);
      assert.equal((await t.request({ method: 'GET', url: '/api/markets?type=other' })).statusCode, 400);

      const found = (await t.request({ method: 'GET', url: '/api/markets/search?q=numbat' })).json();
      assert.ok(
        found.data.some((x: { id: string }) => x.id === m.id),
        JSON.stringify(found),
      );
      assert.equal(found.data.find((x: { id: string }) => x.id === m.id).answers.length, 3);

      const res = await trade(t, bob, m.id, { answerId: m.answers[2].id, side: 'buy', amount: 3 });
      assert.equal(res.statusCode, 201, res.body);
      const events = await t.database.db
        .selectFrom('events')
        .select(['type', 'payload'])
        .where('marketId', '=', m.id)
        .orderBy('seq')
        .execute();
      assert.deepEqual(
        events.map((e) => e.type),
        ['market.created', 'trade.created'],
      );
      const payload = events[1]!.payload as { trade: { answerId: string }; market: { answers: Answer[] } };
      assert.equal(payload.trade.answerId, m.answers[2].id);
      assertSumsToOne(payload.market.answers);
      assert.equal((events[0]!.payload as { answers: Answer[] }).answers.length, 3);
      await assertLedgerZero();
    });

    test('a binary market resolves by answerId too: its outcome and resolvedAnswerId agree', async () => {
      const creator = await t.user();
      const m = await createMarket(t, creator, { initialPosition: { outcome: 'NO', amount: 5 } });
      const res = await t.request({
        method: 'POST',
        url: `/api/markets/${m.id}/resolve`,
        headers: admin.auth,
        payload: { answerId: m.answers[1].id },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().data.outcome, 'NO');
      assert.equal(res.json().data.resolvedAnswerId, m.answers[1].id);
      const positions = await t.request({ method: 'GET', url: '/api/me/positions', headers: creator.auth });
      const held = positions.json().data.find((p: { marketId: string }) => p.marketId === m.id);
      assert.equal(held.outcome, 'NO');
      assert.equal(held.answerId, m.answers[1].id);
      assert.equal(held.payout, Math.floor(held.shares * 100) / 100);
      await assertLedgerZero();
    });

    test('history is per answer: ?answerId= picks one, the default is the leading answer', async () => {
      const m = await createMarket(t, alice, { answers: ['North', 'South', 'East'], liquidity: 30 });
      const [north, south, east] = m.answers as Answer[];
      await trade(t, bob, m.id, { answerId: south!.id, side: 'buy', amount: 10 });
      await trade(t, bob, m.id, { answerId: east!.id, side: 'buy', amount: 2 });
      const now = (await get(m.id)).answers as Answer[];
      const history = async (query: string) => {
        const res = await t.request({
          method: 'GET',
          url: `/api/markets/${m.id}/history?interval=1d${query}`,
        });
        assert.equal(res.statusCode, 200, res.body);
        return res.json().data;
      };
      const closes: number[] = [];
      for (const [i, a] of [north!, south!, east!].entries()) {
        const h = await history(`&answerId=${a.id}`);
        assert.equal(h.answerId, a.id);
        const lastBucket = h.buckets.at(-1);
        assert.equal(lastBucket.trades, 2);
        assert.ok(Math.abs(lastBucket.close - now[i]!.probability) < 1e-9);
        assert.ok(Math.abs(lastBucket.open - 1 / 3) < 1e-9);
        closes.push(lastBucket.close);
      }
      assert.ok(Math.abs(sum(closes) - 1) < 1e-9);
      assert.equal((await history('')).answerId, south!.id);
      const unknown = await t.request({
        method: 'GET',
        url: `/api/markets/${m.id}/history?answerId=${(await createMarket(t, alice)).answers[0].id}`,
      });
      assert.equal(unknown.statusCode, 400);
      assert.equal(unknown.json().code, 'UNKNOWN_ANSWER');
      await assertLedgerZero();
    });
  });
}
