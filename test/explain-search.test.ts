import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CompiledQuery, type Kysely } from 'kysely';
import type { DB } from '../src/db/schema.ts';
import {
  createSearchRepository,
  DEFAULT_SEARCH_TUNING,
  type SearchParams,
  type SearchRepository,
} from '../src/modules/search/search.repository.ts';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { type PlanNode, walk } from './helpers/query-plan.ts';

/**
 * Full-text search ranks a bounded pool of matches served by the GIN index, never every match: a
 * word shared by thousands of markets costs the same as a rare one. Checked on PostgreSQL (its
 * planner and statistics are what a deployment at scale gets) with EXPLAIN ANALYZE of the exact
 * statement the repository runs, and by what a user sees: the market with every word of the
 * question still comes first when the pool is far smaller than the matches.
 */
const skip = process.env.TEST_DATABASE_URL
  ? false
  : 'set TEST_DATABASE_URL to a PostgreSQL server to check query plans';

const MATCHES = 3000;
const OTHERS = 7000;
const POOL = 100;
const INDEX = 'market_search_documents_document_idx';

describe('full-text search ranks a bounded pool from the GIN index (PostgreSQL EXPLAIN)', { skip }, () => {
  let testDb: TestDatabase;
  let db: Kysely<DB>;
  let repository: SearchRepository;
  const lisbon: string[] = [];

  before(async () => {
    testDb = await createTestDatabase('postgres');
    db = testDb.database.db;
    repository = createSearchRepository(db, db, { ...DEFAULT_SEARCH_TUNING, fullTextPool: POOL });
    const user = await db
      .insertInto('users')
      .values({ email: 'plans@example.com', name: 'Plans' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const closesAt = new Date(Date.now() + 86_400_000);
    const market = (slug: string, name: string, category: string) => ({
      slug,
      name,
      category,
      closesAt,
      creatorId: user.id,
    });
    for (let i = 0; i < OTHERS + MATCHES; i += 500) {
      await db
        .insertInto('markets')
        .values(
          Array.from({ length: 500 }, (_, j) =>
            i + j < OTHERS
              ? market(`rain-${i + j}`, `Will it rain in city ${i + j} tomorrow?`, 'weather')
              : market(`btc-${i + j}`, `Will bitcoin reach ${i + j}k dollars?`, j % 2 ? 'crypto' : 'finance'),
          ),
        )
        .execute();
    }
    // Last in the table: the GIN index's first matches of "bitcoin" are all the others.
    const rows = await db
      .insertInto('markets')
      .values([
        market('btc-lisbon', 'Will a Lisbon café accept bitcoin?', 'crypto'),
        market('lisbon-snow', 'Will it snow in Lisbon?', 'weather'),
      ])
      .returning('id')
      .execute();
    lisbon.push(...rows.map((r) => r.id));
    await db.executeQuery(CompiledQuery.raw('vacuum analyze'));
  });
  after(() => testDb?.cleanup());

  const params = (q: string, filters: SearchParams['filters'] = {}): SearchParams => ({
    q,
    model: 'none',
    filters,
    limit: 10,
    candidates: 40,
  });

  async function plan(p: SearchParams): Promise<PlanNode> {
    const compiled = repository.searchStatement(p).compile(db);
    // With the settings the search runs under.
    const { rows } = await repository.inSearchTransaction(p, (trx) =>
      trx.executeQuery<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
        CompiledQuery.raw(`explain (analyze, verbose, format json) ${compiled.sql}`, [
          ...compiled.parameters,
        ]),
      ),
    );
    return rows[0]!['QUERY PLAN'][0]!.Plan;
  }

  for (const [name, filters] of [
    ['no filter', {}],
    ['status and category', { status: 'active', category: 'crypto' }],
  ] as const) {
    test(`a word in ${MATCHES} markets: the GIN index serves the matches and ts_rank sees only the pool (${name})`, async (t) => {
      const root = await plan(params('bitcoin lisbon', filters));
      const nodes = [...walk(root)];
      // Markets with both words are few: those come from the GIN index.
      assert.ok(
        nodes.some((n) => n['Node Type'] === 'Bitmap Index Scan' && n['Index Name'] === INDEX),
        'matches come from the GIN index',
      );
      const documentScans = nodes.filter((n) => n['Relation Name'] === 'market_search_documents');
      // A word in a third of the rows may be read in table order instead, if the scan stops at
      // the pool (LIMIT): never the whole table.
      for (const scan of documentScans.filter((n) => n['Node Type'] === 'Seq Scan')) {
        const read = (scan['Actual Rows'] ?? 0) + (scan['Rows Removed by Filter'] ?? 0);
        assert.ok(read < (OTHERS + MATCHES) / 5, `a sequential scan read ${read} documents`);
      }
      // Where ts_rank is computed (a parent passes the value on as "(ts_rank(…))"): two pools,
      // every word and any word, of at most POOL rows each, out of MATCHES markets that match.
      const ranked = nodes
        .filter((n) => (n as { Output?: string[] }).Output?.some((o) => o.startsWith('ts_rank(')))
        .reduce((total, n) => total + (n['Actual Rows'] ?? 0) * (n['Actual Loops'] ?? 1), 0);
      assert.ok(ranked > 0 && ranked <= 2 * POOL, `${ranked} documents ranked for ${MATCHES} matches`);
      t.diagnostic(`${ranked} ranked of ${MATCHES} matches`);
    });
  }

  test('a rare word is served by the GIN index', async () => {
    const nodes = [...walk(await plan(params('lisbon')))];
    assert.ok(nodes.some((n) => n['Node Type'] === 'Bitmap Index Scan' && n['Index Name'] === INDEX));
  });

  test('the market with every word of the question comes first, though the pool holds a sliver of the matches', async () => {
    const hits = await repository.search(params('bitcoin lisbon'));
    assert.equal(hits[0]?.market.id, lisbon[0], hits[0]?.market.name);
    // Any-word matches fill the rest, from the pool's sample of the bitcoin markets.
    assert.equal(hits.length, 10);
  });
});
