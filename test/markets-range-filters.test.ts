import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { seedSampleData } from '../scripts/lib/seed-database.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';

/**
 * Range filters (volume, close time) and batch reads (ids) of GET /api/markets, checked against
 * the same question asked of the table in SQL. The list cache stays on (its default TTL): every
 * first page below is cached, so two filters sharing a cache key would answer each other's rows.
 */
for (const kind of databaseKinds()) {
  describe(`range filters and batch reads (${kind})`, () => {
    let t: TestApp;
    let volumes: number[]; // cents, ascending
    before(async () => {
      t = await buildTestApp(kind);
      await seedSampleData(t.database.db, { markets: 300, users: 10, seed: 5 });
      const rows = await t.database.db.selectFrom('markets').select('volume').orderBy('volume').execute();
      volumes = rows.map((r) => Number(r.volume));
    });
    after(() => t.close());

    async function get(query: string) {
      return t.request({ method: 'GET', url: `/api/markets?${query}` });
    }

    /** Every page of a list, following nextCursor; ids in the order served. */
    async function allPages(query: string, limit = 25): Promise<string[]> {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await get(`${query}&limit=${limit}&fields=id${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(res.statusCode, 200, `${query}: ${res.body}`);
        const body = res.json();
        ids.push(...body.data.map((m: { id: string }) => m.id));
        cursor = body.meta.nextCursor;
      } while (cursor);
      return ids;
    }

    async function idsWhere(where: ReturnType<typeof sql>, orderBy = sql`volume desc, id desc`) {
      const rows = await sql<{
        id: string;
      }>`select id from markets where ${where} order by ${orderBy}`.execute(t.database.db);
      return rows.rows.map((r) => r.id);
    }

    test('volumeMin and volumeMax select by volume in units, both bounds inclusive, across cursor pages', async () => {
      // Bounds that are real volumes, so inclusivity is exercised.
      const low = volumes[Math.floor(volumes.length * 0.5)]!;
      const high = volumes[Math.floor(volumes.length * 0.9)]!;
      assert.ok(low < high, `the sample has a spread of volumes (${low}..${high} cents)`);
      const units = (cents: number) => (cents / 100).toFixed(2);
      const expected = await idsWhere(sql`volume >= ${low} and volume <= ${high}`);
      assert.ok(expected.length > 25, 'more than one page');
      assert.deepEqual(
        await allPages(`volumeMin=${units(low)}&volumeMax=${units(high)}&sort=volume&order=desc`),
        expected,
      );
      assert.deepEqual(
        await allPages(`volumeMin=${units(high)}&sort=volume&order=desc`),
        await idsWhere(sql`volume >= ${high}`),
      );
      assert.deepEqual(
        await allPages(`volumeMax=${units(low)}&sort=volume&order=desc`),
        await idsWhere(sql`volume <= ${low}`),
      );
      // Equal bounds: exactly that volume; "12" and "12.00" and "12.0" are the same amount.
      const exact = await idsWhere(sql`volume = ${high}`);
      for (const spelling of [units(high), String(high / 100)]) {
        assert.deepEqual(
          await allPages(`volumeMin=${spelling}&volumeMax=${units(high)}&sort=volume&order=desc`),
          exact,
        );
      }
    });

    test('closesAfter (inclusive) and closesBefore (exclusive) select a close-time window, combined with status and count', async () => {
      const now = Date.now();
      const after = new Date(now + 7 * 86_400_000).toISOString();
      const before = new Date(now + 60 * 86_400_000).toISOString();
      const expected = await idsWhere(
        sql`closes_at >= ${new Date(after)} and closes_at < ${new Date(before)}`,
        sql`closes_at asc, id asc`,
      );
      assert.ok(expected.length > 25, `a window with several pages (${expected.length})`);
      assert.deepEqual(
        await allPages(`closesAfter=${after}&closesBefore=${before}&sort=closesAt&order=asc`),
        expected,
      );
      // The window's ends are as documented: a market closing exactly at `closesAfter` is in, at `closesBefore` out.
      const edge = await t.database.db
        .selectFrom('markets')
        .select(['id', 'closesAt'])
        .where('closesAt', '>', new Date(now))
        .orderBy('closesAt')
        .limit(1)
        .executeTakeFirstOrThrow();
      const at = edge.closesAt.toISOString();
      const inWindow = await allPages(`closesAfter=${at}&closesBefore=${before}&sort=closesAt&order=asc`);
      assert.ok(inWindow.includes(edge.id), 'closesAfter includes its instant');
      const beforeIt = await allPages(`closesBefore=${at}&sort=closesAt&order=asc`);
      assert.ok(!beforeIt.includes(edge.id), 'closesBefore excludes its instant');
      // Another spelling of the same instant (an offset) is the same filter.
      const offsetSpelling = encodeURIComponent(after.replace('Z', '+00:00'));
      assert.deepEqual(
        await allPages(`closesAfter=${offsetSpelling}&closesBefore=${before}&sort=closesAt&order=asc`),
        expected,
      );

      const activeExpected = await idsWhere(
        sql`status = 'active' and closes_at > now() and volume >= 100 and closes_at < ${new Date(before)}`,
      );
      const res = await get(
        `status=active&volumeMin=1&closesBefore=${before}&sort=volume&limit=100&fields=id&count=true`,
      );
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(
        res.json().data.map((m: { id: string }) => m.id),
        activeExpected.slice(0, 100),
      );
      assert.equal(res.json().meta.total, activeExpected.length);
    });

    test('ids= reads exactly those markets, in the requested sort; unknown ids are absent; order and case of the list do not matter', async () => {
      const all = await idsWhere(sql`true`, sql`id`);
      const chosen = all.filter((_, i) => i % 3 === 0).slice(0, 100);
      const unknown = randomUUID();
      const query = `ids=${[...chosen, unknown].slice(1).join(',')}`;
      const expected = await idsWhere(sql`id in (${sql.join(chosen.slice(1))})`, sql`name asc, id asc`);
      const first = await get(`${query}&sort=name&order=asc&limit=100&fields=id,name&count=true`);
      assert.equal(first.statusCode, 200, first.body);
      assert.deepEqual(
        first.json().data.map((m: { id: string }) => m.id),
        expected,
      );
      assert.equal(first.json().meta.total, expected.length);

      const shuffled = [...chosen.slice(1)].reverse().map((id, i) => (i % 2 ? id.toUpperCase() : id));
      assert.deepEqual(
        await allPages(`ids=${shuffled.join(',')},${shuffled[0]}&sort=name&order=asc`, 30),
        expected,
        'reversed, upper-cased and repeated ids: the same markets, also by cursor',
      );
      // Combined with a range: the intersection.
      const withRange = await idsWhere(
        sql`id in (${sql.join(chosen.slice(1))}) and volume >= 100`,
        sql`volume desc, id desc`,
      );
      assert.deepEqual(await allPages(`${query}&volumeMin=1&sort=volume`), withRange);
      // A hundred ids is the bound, and is served.
      const hundred = await get(`ids=${all.slice(0, 100).join(',')}&limit=100&fields=id`);
      assert.equal(hundred.statusCode, 200, hundred.body);
      assert.equal(hundred.json().data.length, 100);
    });

    test('first pages of different ranges are cached under different keys, and a trade moves a market into a volume range', async () => {
      const traded = volumes.filter((v) => v > 0);
      const middle = traded[Math.floor(traded.length / 2)]! / 100;
      const queries = [`volumeMin=${middle}`, `volumeMax=${middle}`, 'volumeMin=0.01'];
      const answers = new Map<string, string>();
      for (let round = 0; round < 2; round++) {
        for (const q of queries) {
          const res = await get(`${q}&sort=volume&order=asc&fields=id,volume&limit=50`);
          assert.equal(res.statusCode, 200, res.body);
          if (round === 0) answers.set(q, res.body);
          else assert.equal(res.body, answers.get(q), `${q} answers the same from the cache`);
        }
      }
      assert.equal(new Set(answers.values()).size, queries.length, 'each range its own page');

      // A market with no volume, then a trade: the cached "volumeMin" page must learn of it.
      const user = await t.user('user');
      const created = await t.request({
        method: 'POST',
        url: '/api/markets',
        headers: user.auth,
        payload: { name: 'Range filter market', category: 'misc', closesAt: '2036-01-01T00:00:00Z' },
      });
      assert.equal(created.statusCode, 201, created.body);
      const id = created.json().data.id as string;
      const bounded = `ids=${id}&volumeMin=5&fields=id,volume`;
      assert.deepEqual((await get(bounded)).json().data, []);
      const trade = await t.request({
        method: 'POST',
        url: `/api/markets/${id}/trades`,
        headers: user.auth,
        payload: { outcome: 'YES', side: 'buy', amount: 5 },
      });
      assert.equal(trade.statusCode, 201, trade.body);
      assert.deepEqual((await get(bounded)).json().data, [{ id, volume: 5 }]);
    });

    test('bad ranges and ids are 400s in the envelope', async () => {
      const valid = randomUUID();
      const thousand = Array.from({ length: 1000 }, () => randomUUID()).join(',');
      const hundredOne = Array.from({ length: 101 }, () => randomUUID()).join(',');
      const cases = [
        'volumeMin=10&volumeMax=5',
        'volumeMin=1.005',
        'volumeMin=-1',
        'volumeMin=1e3',
        'volumeMin=',
        'volumeMin=abc',
        'volumeMin=0x10',
        'volumeMax=Infinity',
        'volumeMax=99999999999999',
        'closesAfter=2030-01-02T00:00:00Z&closesBefore=2030-01-01T00:00:00Z',
        'closesAfter=2030-01-01T00:00:00Z&closesBefore=2030-01-01T00:00:00Z',
        'closesBefore=tomorrow',
        'closesBefore=2030-01-01',
        'closesAfter=2030-13-01T00:00:00Z',
        'closesAfter=0000-01-01T00:00:00Z',
        `ids=${thousand}`,
        `ids=${hundredOne}`,
        'ids=',
        'ids=,,,',
        `ids=${valid},not-a-uuid`,
        `ids=${valid},my-market-slug`,
        `ids=${valid};drop table markets`,
      ];
      const before = await t.database.db
        .selectFrom('markets')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      for (const query of cases) {
        const res = await get(query);
        assert.equal(res.statusCode, 400, `${query.slice(0, 80)}: ${res.body.slice(0, 200)}`);
        const body = res.json();
        assert.equal(body.success, false);
        assert.equal(body.code, 'VALIDATION_ERROR', query.slice(0, 80));
        assert.equal(typeof body.requestId, 'string');
      }
      const minOverMax = (await get('volumeMin=10&volumeMax=5')).json();
      assert.match(JSON.stringify(minOverMax.details), /volumeMin must not exceed volumeMax/);
      const tooMany = (await get(`ids=${hundredOne}`)).json();
      assert.match(JSON.stringify(tooMany.details), /at most 100 ids/);
      const after = await t.database.db
        .selectFrom('markets')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(Number(after.n), Number(before.n));
    });
  });
}
