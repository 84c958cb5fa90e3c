import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { CompiledQuery, sql } from 'kysely';
import { createPriceHistoryRepository } from '../src/modules/markets/history/price-history.repository.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { type PlanNode, walk } from './helpers/query-plan.ts';
import { createMarket, type TestUser, trade } from './helpers/trading.ts';

const MIN = 60_000;
/** A past minute the trades are moved to; every range read from it is final. */
const BASE = Date.parse('2025-06-01T10:00:00.000Z');
const at = (ms: number) => new Date(BASE + ms).toISOString();

interface Ledger {
  before: number;
  after: number;
  amount: number;
}

for (const kind of databaseKinds()) {
  describe(`market price history (${kind})`, () => {
    let t: TestApp;
    let trader: TestUser;
    let market: { id: string; slug: string };
    let ledger: Ledger[];

    const history = (idOrSlug: string, query: string, headers: Record<string, string> = {}) =>
      t.request({ method: 'GET', url: `/api/markets/${idOrSlug}/history?${query}`, headers });

    before(async () => {
      t = await buildTestApp(kind);
      const creator = await t.user();
      trader = await t.user();
      market = await createMarket(t, creator);
      for (const body of [
        { outcome: 'YES', side: 'buy', amount: 30 },
        { outcome: 'NO', side: 'buy', amount: 50 },
        { outcome: 'YES', side: 'buy', amount: 20 },
      ]) {
        const res = await trade(t, trader, market.id, body);
        assert.equal(res.statusCode, 201, res.body);
      }
      // The three trades land at 1:10 and 1:40 (same minute) and 3:05 after BASE.
      const rows = await t.database.db
        .selectFrom('trades')
        .select(['id', 'outcome', 'probabilityBefore', 'probabilityAfter', 'amount'])
        .where('marketId', '=', market.id)
        .orderBy('createdAt')
        .orderBy('id')
        .execute();
      assert.equal(rows.length, 3);
      const offsets = [70_000, 100_000, 185_000];
      for (const [i, row] of rows.entries()) {
        await sql`update trades set created_at = ${new Date(BASE + offsets[i]!)} where id = ${row.id}`.execute(
          t.database.db,
        );
      }
      // The ledger stores the traded outcome's probability; the chart is YES's.
      const yes = (outcome: string | null, p: number) => (outcome === 'YES' ? p : 1 - p);
      ledger = rows.map((r) => ({
        before: yes(r.outcome, r.probabilityBefore),
        after: yes(r.outcome, r.probabilityAfter),
        amount: Number(r.amount) / 100,
      }));
    });
    after(() => t.close());

    test('each bucket has the open, high, low, close, volume and trade count of its trades', async () => {
      const res = await history(market.id, `interval=1m&from=${at(0)}&to=${at(4 * MIN + 59_000)}`);
      assert.equal(res.statusCode, 200, res.body);
      const { data } = res.json();
      assert.equal(data.marketId, market.id);
      assert.equal(data.from, at(0));
      assert.equal(data.to, at(5 * MIN));
      const [t1, t2, t3] = ledger as [Ledger, Ledger, Ledger];
      assert.deepEqual(
        data.buckets.map((b: { start: string }) => b.start),
        [0, 1, 2, 3, 4].map((m) => at(m * MIN)),
      );
      const [b0, b1, b2, b3, b4] = data.buckets;
      // Before the first trade the market stood where that trade found it.
      assert.deepEqual(b0, {
        start: at(0),
        open: 0.5,
        high: 0.5,
        low: 0.5,
        close: 0.5,
        volume: 0,
        trades: 0,
      });
      assert.equal(t1.before, 0.5);
      assert.deepEqual(b1, {
        start: at(MIN),
        open: t1.before,
        high: t1.after,
        low: t2.after,
        close: t2.after,
        volume: 80,
        trades: 2,
      });
      assert.ok(t2.after < 0.5 && t1.after > 0.5, 'YES went up, then the NO buy brought it below even');
      assert.equal(t2.before, t1.after);
      // An empty bucket is flat at the previous close.
      assert.deepEqual(b2, {
        start: at(2 * MIN),
        open: t2.after,
        high: t2.after,
        low: t2.after,
        close: t2.after,
        volume: 0,
        trades: 0,
      });
      assert.deepEqual(b3, {
        start: at(3 * MIN),
        open: t3.before,
        high: t3.after,
        low: t3.before,
        close: t3.after,
        volume: t3.amount,
        trades: 1,
      });
      assert.equal(b4.open, t3.after);
      assert.equal(b4.close, t3.after);
      assert.equal(b4.trades, 0);
    });

    test('a range after the last trade is flat at it; one before any trade is flat at 0.5; by slug too', async () => {
      const later = await history(market.slug, `interval=5m&from=${at(60 * MIN)}&to=${at(70 * MIN)}`);
      assert.equal(later.statusCode, 200, later.body);
      const buckets = later.json().data.buckets;
      assert.equal(buckets.length, 3);
      for (const b of buckets) {
        assert.deepEqual(
          [b.open, b.high, b.low, b.close, b.volume, b.trades],
          [...Array(4).fill(ledger[2]!.after), 0, 0],
        );
      }
      const earlier = (
        await history(market.id, `interval=1h&from=${at(-10 * 60 * MIN)}&to=${at(-MIN)}`)
      ).json();
      assert.equal(earlier.data.buckets.length, 10);
      assert.ok(earlier.data.buckets.every((b: { close: number }) => b.close === 0.5));
      // 1d buckets start at midnight UTC and sum the whole day.
      const day = (await history(market.id, `interval=1d&from=${at(0)}&to=${at(0)}`)).json().data.buckets;
      assert.equal(day.length, 1);
      assert.equal(day[0].start, '2025-06-01T00:00:00.000Z');
      assert.equal(day[0].trades, 3);
      assert.equal(day[0].volume, 100);
    });

    test('without from and to: the last 100 buckets up to now, cacheable only briefly', async () => {
      const res = await history(market.id, 'interval=1m');
      assert.equal(res.statusCode, 200, res.body);
      const { buckets, to } = res.json().data;
      assert.equal(buckets.length, 100);
      assert.ok(Date.parse(to) > Date.now() - MIN, 'the last bucket contains now');
      assert.equal(res.headers['cache-control'], 'public, max-age=5');
      assert.ok(buckets.every((b: { close: number }) => b.close === ledger[2]!.after));
    });

    test('a past range is immutable: long Cache-Control, an ETag, and 304 for If-None-Match', async () => {
      const query = `interval=1m&from=${at(0)}&to=${at(4 * MIN)}`;
      const first = await history(market.id, query);
      assert.equal(first.statusCode, 200);
      assert.equal(first.headers['cache-control'], 'public, max-age=31536000, immutable');
      const etag = first.headers.etag as string;
      assert.match(etag, /^"[\w-]+"$/);
      const again = await history(market.id, query, { 'if-none-match': etag });
      assert.equal(again.statusCode, 304);
      assert.equal(again.body, '');
      assert.equal(again.headers.etag, etag);
      const other = await history(market.id, query, { 'if-none-match': '"something-else"' });
      assert.equal(other.statusCode, 200);
      const otherRange = await history(market.id, `interval=1m&from=${at(MIN)}&to=${at(4 * MIN)}`);
      assert.notEqual(otherRange.headers.etag, etag);
    });

    test("the batch form returns each market's buckets, in the order asked, and validates its list", async () => {
      const untraded = await createMarket(t, trader);
      const range = `interval=1m&from=${at(MIN)}&to=${at(2 * MIN)}`;
      const url = (markets: string) => `/api/history?markets=${markets}&${range}`;
      const res = await t.request({ method: 'GET', url: url(`${untraded.slug},${market.id}`) });
      assert.equal(res.statusCode, 200, res.body);
      const { data } = res.json();
      assert.deepEqual(
        data.markets.map((m: { marketId: string }) => m.marketId),
        [untraded.id, market.id],
      );
      const single = (await history(market.id, range)).json().data.buckets;
      assert.deepEqual(data.markets[1].buckets, single);
      assert.ok(
        data.markets[0].buckets.every(
          (b: { close: number; trades: number }) => b.close === 0.5 && b.trades === 0,
        ),
      );
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
      const again = await t.request({
        method: 'GET',
        url: url(`${untraded.slug},${market.id}`),
        headers: { 'if-none-match': res.headers.etag as string },
      });
      assert.equal(again.statusCode, 304);

      const ids = Array.from({ length: 21 }, () => randomUUID()).join(',');
      for (const [markets, message] of [
        [ids, /at most 20/],
        [`${market.id},${market.id}`, /at most once/],
        [',', /an empty market/],
        [`${market.id},,`, /an empty market/],
        ['Not A Slug', /UUID or slug/],
      ] as const) {
        const bad = await t.request({ method: 'GET', url: url(encodeURIComponent(markets)) });
        assert.equal(bad.statusCode, 400, `${markets}: ${bad.body}`);
        assert.match(JSON.stringify(bad.json()), message);
      }
      const missing = await t.request({ method: 'GET', url: url(`${market.id},no-such-market`) });
      assert.equal(missing.statusCode, 404, missing.body);
      assert.match(missing.json().error, /no-such-market/);
    });

    test('bad ranges and intervals are 400 in the envelope; an unknown market is 404', async () => {
      const cases: [string, RegExp][] = [
        [`interval=1m&from=${at(MIN)}&to=${at(0)}`, /from.*after.*to/i],
        [`interval=2m`, /interval/i],
        [`interval=1m&from=${at(0)}&to=${at(1000 * MIN)}`, /1001 buckets.*at most 1000/],
        [`interval=1d&from=2020-01-01T00:00:00Z&to=2025-01-01T00:00:00Z`, /buckets.*at most 1000/],
        [`from=yesterday`, /from/i],
        [`from=2025-13-45T00:00:00Z`, /from/i],
        [`interval=1m&until=${at(0)}`, /until|unrecognized/i],
      ];
      for (const [query, message] of cases) {
        const res = await history(market.id, query);
        assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
        const body = res.json();
        assert.equal(body.success, false);
        assert.ok(body.code && body.requestId, query);
        assert.match(`${body.error} ${JSON.stringify(body.details ?? [])}`, message, query);
      }
      // Exactly the limit is fine.
      const limit = await history(market.id, `interval=1m&from=${at(0)}&to=${at(999 * MIN)}`);
      assert.equal(limit.statusCode, 200, limit.body);
      assert.equal(limit.json().data.buckets.length, 1000);
      for (const id of [randomUUID(), 'no-such-market']) {
        const res = await history(id, 'interval=1h');
        assert.equal(res.statusCode, 404, res.body);
        assert.equal(res.json().success, false);
      }
    });
  });
}

describe('the history query reads trades through an index (PostgreSQL EXPLAIN)', {
  skip: process.env.TEST_DATABASE_URL
    ? false
    : 'set TEST_DATABASE_URL to a PostgreSQL server to check query plans',
}, () => {
  let t: TestApp;
  after(() => t?.close());

  test('30 days of 1h buckets of one market among many touch no trade outside its range', async () => {
    t = await buildTestApp('postgres');
    const creator = await t.user();
    const markets = [];
    for (let i = 0; i < 5; i++) markets.push(await createMarket(t, creator));
    // 50 000 trades over 60 days, spread over the five markets.
    await sql`
      insert into trades (market_id, user_id, outcome, answer_index, side, amount, shares, probability_before, probability_after, created_at)
      select (${sql.val(markets.map((m) => m.id))}::uuid[])[1 + i % 5], ${creator.id}, 'YES', 0, 'buy', 100, 1000, 0.5, 0.51,
             now() - make_interval(secs => i * 103.68)
      from generate_series(1, 50000) as i`.execute(t.database.db);
    await sql`analyze trades`.execute(t.database.db);
    const repo = createPriceHistoryRepository(t.database.db);
    const last = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
    const query = repo
      .bucketsQuery(markets[0].id, {
        first: new Date(last.getTime() - 719 * 3_600_000),
        last,
        intervalMs: 3_600_000,
      })
      .compile(t.database.db);
    const { rows } = await t.database.db.executeQuery<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      CompiledQuery.raw(`explain (analyze, format json) ${query.sql}`, [...query.parameters]),
    );
    const plan = rows[0]!['QUERY PLAN'][0].Plan;
    const nodes = [...walk(plan)];
    const shown = JSON.stringify(plan, null, 1).slice(0, 4000);
    assert.ok(!nodes.some((n) => n['Node Type'] === 'Seq Scan'), shown);
    // Index scans, or bitmap heap scans fed by an index scan, all over the (market_id, created_at) index.
    const indexes = nodes.filter((n) => n['Index Name']).map((n) => n['Index Name']);
    assert.ok(indexes.length > 0, shown);
    assert.deepEqual(new Set(indexes), new Set(['trades_market_created_idx']), shown);
    const result = await repo.buckets(markets[0].id, {
      first: new Date(last.getTime() - 719 * 3_600_000),
      last,
      intervalMs: 3_600_000,
    });
    assert.equal(result.length, 720);
    // 50 000 trades over 60 days, a fifth of them in this market, half of those in the last 30 days.
    const traded = result.reduce((n, b) => n + b.trades, 0);
    assert.ok(traded > 4500 && traded < 5500, String(traded));
  });
});
