import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CompiledQuery } from 'kysely';
import { seedSampleData } from '../scripts/lib/seed-database.ts';
import type { Database } from '../src/db/database.ts';
import {
  createMarketRepository,
  type MarketFilters,
  type MarketPage,
} from '../src/modules/markets/markets.repository.ts';
import { MARKET_FIELDS, MARKET_STATUSES, SORT_FIELDS } from '../src/modules/markets/markets.schemas.ts';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';

/**
 * Every documented filter × sort × order of GET /api/markets, first page and keyset page, runs
 * the exact SQL the repository issues under EXPLAIN on a seeded, analyzed PostgreSQL, and no
 * plan may read the whole markets table. PostgreSQL only: PGlite is the same planner but
 * single-user, and the server's plans are the ones production gets.
 */
const skip = process.env.TEST_DATABASE_URL
  ? false
  : 'set TEST_DATABASE_URL to a PostgreSQL server to check query plans';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

function* walk(node: PlanNode): Generator<PlanNode> {
  yield node;
  for (const child of node.Plans ?? []) yield* walk(child);
}

function describePlan(node: PlanNode, depth = 0): string {
  const target = node['Index Name'] ?? node['Relation Name'] ?? '';
  const line = `${'  '.repeat(depth)}${node['Node Type']}${target ? ` on ${target}` : ''}`;
  return [line, ...(node.Plans ?? []).map((child) => describePlan(child, depth + 1))].join('\n');
}

describe('list queries are served by indexes (PostgreSQL EXPLAIN)', { skip }, () => {
  let testDb: TestDatabase;
  let database: Database;
  const filterCases: { name: string; filters: MarketFilters }[] = [];

  before(async () => {
    testDb = await createTestDatabase('postgres');
    database = testDb.database;
    // A few thousand rows: enough for the planner to prefer an index wherever one fits.
    await seedSampleData(database.db, { markets: 5000, users: 40, seed: 1 });
    const creator = await database.db
      .selectFrom('markets')
      .select('creatorId')
      .groupBy('creatorId')
      .orderBy((eb) => eb.fn.countAll(), 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
    filterCases.push(
      { name: 'no filter', filters: {} },
      ...MARKET_STATUSES.map((status) => ({ name: `status=${status}`, filters: { status } })),
      { name: 'category=crypto', filters: { category: 'crypto' } },
      { name: 'creatorId=<most prolific creator>', filters: { creatorId: creator.creatorId } },
      { name: 'tag=election', filters: { tag: 'election' } },
      ...MARKET_STATUSES.map((status) => ({
        name: `status=${status}&category=politics`,
        filters: { status, category: 'politics' },
      })),
    );
  });
  after(() => testDb?.cleanup());

  async function planOf(page: MarketPage): Promise<PlanNode> {
    const compiled = createMarketRepository(database.db).listQuery(page).compile();
    const result = await database.db.executeQuery<Record<string, [{ Plan: PlanNode }]>>(
      CompiledQuery.raw(`explain (format json) ${compiled.sql}`, [...compiled.parameters]),
    );
    // One row, one column ("QUERY PLAN"; its key is whatever the camel-case plugin made of it).
    return Object.values(result.rows[0]!)[0]![0].Plan;
  }

  test('no filter, sort or order of the list endpoint reads the markets table sequentially', async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const { name, filters } of filterCases) {
      for (const sort of SORT_FIELDS) {
        for (const order of ['asc', 'desc'] as const) {
          const base = { filters, sort, order, limit: 20, offset: 0, columns: MARKET_FIELDS };
          // A keyset page starts after a row in the middle of the range.
          const after = {
            value:
              sort === 'name'
                ? 'M'
                : sort === 'createdAt' || sort === 'closesAt'
                  ? new Date().toISOString()
                  : sort === 'volume'
                    ? 1000
                    : 0.5,
            id: '80000000-0000-4000-8000-000000000000',
          };
          for (const [kind, page] of [
            ['first page', base],
            ['keyset page', { ...base, after }],
          ] as const) {
            const plan = await planOf(page);
            checked++;
            const seqScan = [...walk(plan)].some(
              (n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'markets',
            );
            if (seqScan)
              failures.push(`${name} sort=${sort} order=${order} (${kind}):\n${describePlan(plan)}`);
          }
        }
      }
    }
    assert.equal(checked, filterCases.length * SORT_FIELDS.length * 2 * 2);
    assert.deepEqual(
      failures,
      [],
      `${failures.length} of ${checked} plans scan markets:\n${failures.join('\n\n')}`,
    );
  });
});
