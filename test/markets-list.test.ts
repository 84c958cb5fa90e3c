import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MarketStatus } from '../src/db/schema.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { backgroundQuiet } from './helpers/eventually.ts';

/** What the test knows about each market it inserted, in the API's units. */
interface Fixture {
  id: string;
  name: string;
  category: string;
  tags: string[];
  status: MarketStatus; // as the API reports it (an active market past its close time is closed)
  creatorId: string;
  volume: number;
  probability: number;
  createdAt: string;
  closesAt: string;
}

type SortKey = 'volume' | 'createdAt' | 'closesAt' | 'probability' | 'name';
const SORTS: SortKey[] = ['volume', 'createdAt', 'closesAt', 'probability', 'name'];
const MARKETS = 45;
const CREATORS = 20;

const cmp = (a: string | number, b: string | number) => (a < b ? -1 : a > b ? 1 : 0);

/** The order the API promises: by the sort key, then by id, both in the requested direction. */
function ordered(rows: Fixture[], sort: SortKey, order: 'asc' | 'desc'): string[] {
  const dir = order === 'asc' ? 1 : -1;
  return [...rows].sort((a, b) => dir * (cmp(a[sort], b[sort]) || cmp(a.id, b.id))).map((r) => r.id);
}

for (const kind of databaseKinds()) {
  describe(`listing markets (${kind})`, () => {
    let t: TestApp;
    let fixtures: Fixture[];
    let creators: { id: string; name: string }[];

    const list = async (query: string) => {
      const res = await t.request({ method: 'GET', url: `/api/markets?${query}` });
      assert.equal(res.statusCode, 200, `${query}: ${res.body}`);
      return res.json() as {
        data: Record<string, unknown>[];
        meta: { limit: number; offset: number; nextCursor: string | null; hasMore: boolean; total?: number };
      };
    };
    const ids = (body: { data: Record<string, unknown>[] }) => body.data.map((m) => m.id as string);
    const expectStatus = async (query: string, status: number) => {
      const res = await t.request({ method: 'GET', url: `/api/markets?${query}` });
      assert.equal(res.statusCode, status, `${query}: ${res.body}`);
      return res.json();
    };

    before(async () => {
      // Fixtures go straight into the database and query counts are the subject: no list cache here.
      t = await buildTestApp(kind, { LIST_CACHE_TTL_SECONDS: '0' });
      creators = [];
      for (let c = 0; c < CREATORS; c++) {
        const u = await t.user('user', `Creator ${String(c).padStart(2, '0')}`);
        creators.push({ id: u.id, name: `Creator ${String(c).padStart(2, '0')}` });
      }
      // Rows go in directly: volume, probability, timestamps and status are server-owned, and
      // the sort tests need many equal values (ties) that no sequence of API calls would give.
      const now = Date.now();
      const rows = Array.from({ length: MARKETS }, (_, i) => {
        const past = i % 9 === 4; // active in the table, but its close time has passed
        const status: MarketStatus =
          i === 8 ? 'closed' : i % 7 === 0 ? 'resolved' : i % 11 === 1 ? 'cancelled' : 'active';
        return {
          slug: `list-market-${i}`,
          name: `market ${String(i % 15).padStart(3, '0')}`, // three markets share each name
          category: ['politics', 'sports', 'weather'][i % 3]!,
          tags: [
            ...(i % 2 === 0 ? ['even'] : []),
            ...(i % 5 === 0 ? ['five'] : []),
            ...(i < CREATORS ? ['batch'] : []),
          ],
          status,
          outcome: status === 'resolved' ? ('YES' as const) : null,
          closesAt: new Date(now + (past ? -1 : 1) * (i + 1) * 3_600_000),
          creatorId: creators[i % CREATORS]!.id,
          volume: (i % 4) * 1250, // cents: four distinct values across 45 markets
          probability: [0.1, 0.3, 0.5, 0.7, 0.9][i % 5]!,
          createdAt: new Date(now - Math.floor(i / 2) * 1000), // pairs share a creation time
        };
      });
      const inserted = await t.database.db
        .insertInto('markets')
        .values(rows)
        .returning(['id', 'slug'])
        .execute();
      const idBySlug = new Map(inserted.map((r) => [r.slug, r.id]));
      fixtures = rows.map((r) => ({
        id: idBySlug.get(r.slug)!,
        name: r.name,
        category: r.category,
        tags: r.tags,
        status: r.status === 'active' && r.closesAt.getTime() <= now ? 'closed' : r.status,
        creatorId: r.creatorId,
        volume: r.volume / 100,
        probability: r.probability,
        createdAt: r.createdAt.toISOString(),
        closesAt: r.closesAt.toISOString(),
      }));
    });
    after(() => t.close());

    test('the fixture really has ties in volume, probability, name and creation time', () => {
      const distinct = (key: SortKey) => new Set(fixtures.map((f) => f[key])).size;
      assert.equal(distinct('volume'), 4);
      assert.equal(distinct('probability'), 5);
      assert.equal(distinct('name'), 15);
      assert.equal(distinct('createdAt'), Math.ceil(MARKETS / 2));
    });

    test('each filter returns exactly the matching markets, alone and combined', async () => {
      const cases: [string, (f: Fixture) => boolean][] = [
        ['status=active', (f) => f.status === 'active'],
        ['status=closed', (f) => f.status === 'closed'],
        ['status=resolved', (f) => f.status === 'resolved'],
        ['status=cancelled', (f) => f.status === 'cancelled'],
        ['category=sports', (f) => f.category === 'sports'],
        [`creatorId=${creators[3]!.id}`, (f) => f.creatorId === creators[3]!.id],
        ['tag=five', (f) => f.tags.includes('five')],
        [
          'category=politics&tag=even&status=active',
          (f) => f.category === 'politics' && f.tags.includes('even') && f.status === 'active',
        ],
        ['category=nothing-here', () => false],
      ];
      for (const [query, match] of cases) {
        const body = await list(`${query}&limit=100`);
        const expected = fixtures
          .filter(match)
          .map((f) => f.id)
          .sort();
        assert.deepEqual(ids(body).sort(), expected, query);
        if (query.startsWith('status=')) {
          for (const m of body.data) assert.equal(m.status, query.slice(7), query);
        }
      }
      assert.ok(
        fixtures.some((f) => f.status === 'closed' && f.name),
        'the fixture has closed markets',
      );
    });

    test('every sort orders by its key in both directions, ties broken by id; the default is newest first', async () => {
      for (const sort of SORTS) {
        for (const order of ['asc', 'desc'] as const) {
          const body = await list(`sort=${sort}&order=${order}&limit=100`);
          assert.deepEqual(ids(body), ordered(fixtures, sort, order), `${sort} ${order}`);
        }
        const defaultOrder = await list(`sort=${sort}&limit=100`);
        assert.deepEqual(ids(defaultOrder), ordered(fixtures, sort, 'desc'), `${sort} defaults to desc`);
      }
      assert.deepEqual(ids(await list('limit=100')), ordered(fixtures, 'createdAt', 'desc'));
    });

    test('walking by cursor visits every market exactly once, in order, even through ties', async () => {
      for (const sort of SORTS) {
        for (const order of ['asc', 'desc'] as const) {
          const seen: string[] = [];
          let cursor: string | null = null;
          let pages = 0;
          do {
            const body: Awaited<ReturnType<typeof list>> = await list(
              `sort=${sort}&order=${order}&limit=7${cursor ? `&cursor=${cursor}` : ''}`,
            );
            seen.push(...ids(body));
            assert.equal(body.meta.hasMore, body.meta.nextCursor !== null);
            cursor = body.meta.nextCursor;
            pages++;
          } while (cursor && pages < 20);
          assert.equal(pages, Math.ceil(MARKETS / 7), `${sort} ${order}`);
          assert.deepEqual(seen, ordered(fixtures, sort, order), `${sort} ${order}`);
        }
      }
    });

    test('a cursor keeps the filters of the walk', async () => {
      const expected = ordered(
        fixtures.filter((f) => f.tags.includes('even')),
        'volume',
        'desc',
      );
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const body: Awaited<ReturnType<typeof list>> = await list(
          `tag=even&sort=volume&limit=4${cursor ? `&cursor=${cursor}` : ''}`,
        );
        seen.push(...ids(body));
        cursor = body.meta.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, expected);
    });

    test('offset pages: the last page says there is no more, a page past the end is empty', async () => {
      const all = ordered(fixtures, 'createdAt', 'desc');
      const first = await list('limit=20');
      assert.deepEqual(ids(first), all.slice(0, 20));
      assert.deepEqual(first.meta, {
        limit: 20,
        offset: 0,
        nextCursor: first.meta.nextCursor,
        hasMore: true,
      });
      assert.equal(typeof first.meta.nextCursor, 'string');

      const last = await list('limit=20&offset=40');
      assert.deepEqual(ids(last), all.slice(40));
      assert.equal(last.meta.hasMore, false);
      assert.equal(last.meta.nextCursor, null);

      const exact = await list('limit=5&offset=40');
      assert.equal(exact.data.length, 5);
      assert.equal(exact.meta.hasMore, false, 'a page that ends exactly at the last market');

      for (const offset of [MARKETS, 10_000]) {
        const empty = await list(`limit=20&offset=${offset}`);
        assert.deepEqual(empty.data, []);
        assert.equal(empty.meta.hasMore, false);
        assert.equal(empty.meta.nextCursor, null);
      }
    });

    test('bad paging parameters are 400s in the envelope', async () => {
      const first = await list('sort=volume&limit=5');
      const cursor = first.meta.nextCursor!;
      const tampered = (value: unknown) =>
        Buffer.from(JSON.stringify(['volume', 'desc', value, fixtures[0]!.id])).toString('base64url');
      const cases = [
        `sort=probability&limit=5&cursor=${cursor}`, // from another sort
        `sort=volume&order=asc&limit=5&cursor=${cursor}`, // from another order
        `sort=volume&limit=5&offset=5&cursor=${cursor}`, // cursor and offset
        'cursor=not-a-cursor',
        `cursor=${Buffer.from('{"a":1}').toString('base64url')}`,
        `sort=volume&cursor=${tampered('lots')}`,
        `sort=volume&cursor=${tampered(1.5)}`,
        'limit=0',
        'limit=101',
        'limit=ten',
        'offset=-1',
        'offset=10001',
        'sort=popularity',
        'order=sideways',
        'status=open',
        'unknownParam=1',
      ];
      for (const query of cases) {
        const body = await expectStatus(query, 400);
        assert.equal(body.success, false, query);
        assert.match(body.code, /^(BAD_REQUEST|VALIDATION_ERROR)$/, query);
        assert.equal(typeof body.requestId, 'string');
      }
      const boundaries = await list('limit=100&offset=0');
      assert.equal(boundaries.data.length, MARKETS);
      assert.equal((await list('limit=1')).data.length, 1);
    });

    test('fields= returns only the named fields; an unknown field is a 400', async () => {
      const body = await list('fields=id,name,volume&limit=100');
      for (const m of body.data) assert.deepEqual(Object.keys(m).sort(), ['id', 'name', 'volume']);

      // status alone still reports closed markets as closed (the server reads closesAt for it)
      const statuses = await list('fields=status&sort=closesAt&order=asc&limit=100');
      assert.deepEqual(
        statuses.data.map((m) => m.status),
        ordered(fixtures, 'closesAt', 'asc').map((id) => fixtures.find((f) => f.id === id)!.status),
      );
      for (const m of statuses.data) assert.deepEqual(Object.keys(m), ['status']);

      // the sort key need not be selected for the cursor to work
      const page = await list('fields=name&sort=volume&limit=10');
      for (const m of page.data) assert.deepEqual(Object.keys(m), ['name']);
      const next = await list(`fields=name&sort=volume&limit=10&cursor=${page.meta.nextCursor}`);
      assert.equal(next.data.length, 10);

      for (const query of ['fields=id,password', 'fields=id,creator', 'fields=', 'include=trades']) {
        const bad = await expectStatus(query, 400);
        assert.equal(bad.code, 'VALIDATION_ERROR', query);
      }
    });

    test('include=creator embeds each creator with a constant number of queries (no N+1)', async () => {
      const queriesFor = async (query: string) => {
        // Earlier writes woke the event log's readers (NOTIFY): count only once their reads are done.
        await backgroundQuiet(t.database.stats);
        const before = t.database.stats.queries;
        const body = await list(query);
        return { body, queries: t.database.stats.queries - before };
      };
      const twenty = await queriesFor('tag=batch&include=creator&limit=20');
      assert.equal(twenty.body.data.length, 20);
      assert.equal(new Set(twenty.body.data.map((m) => m.creatorId)).size, 20, '20 different creators');
      for (const m of twenty.body.data) {
        const creator = creators.find((c) => c.id === m.creatorId)!;
        assert.deepEqual(m.creator, { id: creator.id, name: creator.name });
      }
      const five = await queriesFor('tag=batch&include=creator&limit=5');
      const without = await queriesFor('tag=batch&limit=20');
      assert.equal(twenty.queries, 2, 'one for the markets, one for all their creators');
      assert.equal(five.queries, 2);
      assert.equal(without.queries, 1);
      assert.ok(without.body.data.every((m) => !('creator' in m)));

      // fields and include together: the creator comes even when creatorId is not selected
      const slim = await list('fields=name&include=creator&limit=3');
      for (const m of slim.data) {
        assert.deepEqual(Object.keys(m).sort(), ['creator', 'name']);
        assert.equal(typeof (m.creator as { name: string }).name, 'string');
      }
    });

    test('count=true adds the total of the filtered set; without it there is no total', async () => {
      const sports = fixtures.filter((f) => f.category === 'sports').length;
      const counted = await list('category=sports&limit=2&count=true');
      assert.equal(counted.meta.total, sports);
      assert.equal(counted.data.length, 2);
      assert.equal((await list('count=true&limit=1')).meta.total, MARKETS);
      assert.equal((await list('count=true&category=nothing-here')).meta.total, 0);
      assert.equal('total' in (await list('category=sports')).meta, false);
      assert.equal('total' in (await list('count=false')).meta, false);
    });
  });
}
