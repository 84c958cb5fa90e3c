import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Compilable, CompiledQuery, sql } from 'kysely';
import { seedSampleData } from '../scripts/lib/seed-database.ts';
import type { Database } from '../src/db/database.ts';
import { createCommentRepository } from '../src/modules/comments/comments.repository.ts';
import { createMarketRepository } from '../src/modules/markets/markets.repository.ts';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { type PlanNode, walk } from './helpers/query-plan.ts';

/**
 * The comments list (every order, first and keyset page) and the market.closed sweep run their
 * exact SQL under EXPLAIN ANALYZE on a seeded, analyzed PostgreSQL: each reads an index range of
 * about a page, never its table sequentially. PostgreSQL only, as test/explain.test.ts.
 */
const skip = process.env.TEST_DATABASE_URL
  ? false
  : 'set TEST_DATABASE_URL to a PostgreSQL server to check query plans';

function rowsRead(plan: PlanNode, table: string): number {
  let read = 0;
  for (const n of walk(plan)) {
    if (n['Relation Name'] !== table) continue;
    const perLoop =
      (n['Actual Rows'] ?? 0) +
      (n['Rows Removed by Filter'] ?? 0) +
      (n['Rows Removed by Index Recheck'] ?? 0);
    read += perLoop * (n['Actual Loops'] ?? 1);
  }
  return read;
}

const seqScans = (plan: PlanNode, table: string) =>
  [...walk(plan)].filter((n) => n['Node Type'] === 'Seq Scan' && n['Relation Name'] === table);
/** Index names anywhere in the plan (a bitmap index scan names no relation). */
const indexesIn = (plan: PlanNode) => [...walk(plan)].map((n) => n['Index Name']).filter(Boolean);

describe('comments and the close sweep are served by indexes (PostgreSQL EXPLAIN)', { skip }, () => {
  let testDb: TestDatabase;
  let database: Database;
  let hot: string;

  before(async () => {
    testDb = await createTestDatabase('postgres');
    database = testDb.database;
    await seedSampleData(database.db, { markets: 3000, users: 20, seed: 2 });
    const markets = await database.db.selectFrom('markets').select(['id', 'creatorId']).limit(40).execute();
    hot = markets[0]!.id;
    // 40 markets × 100 comments, and 4000 more on one hot market.
    await sql`
      insert into comments (market_id, author_id, text, created_at)
      select m.id, m.creator_id, 'comment ' || g, now() - g * interval '1 second'
      from (select id, creator_id from markets order by id limit 40) m, generate_series(1, 100) g`.execute(
      database.db,
    );
    await sql`
      insert into comments (market_id, author_id, text, created_at)
      select ${hot}::uuid, ${markets[0]!.creatorId}::uuid, 'hot ' || g, now() - g * interval '1 millisecond'
      from generate_series(1, 4000) g`.execute(database.db);
    // A handful of markets just closed and not yet announced, among thousands that are not due.
    await sql`
      update markets set closes_at = now() - interval '1 minute', close_announced_at = null
      where id in (select id from markets where status = 'active' order by id limit 7)`.execute(database.db);
    await sql`analyze`.execute(database.db);
  });
  after(() => testDb?.cleanup());

  async function planOf(query: Compilable): Promise<PlanNode> {
    const compiled = query.compile();
    const result = await database.db.executeQuery<Record<string, [{ Plan: PlanNode }]>>(
      CompiledQuery.raw(`explain (analyze, format json) ${compiled.sql}`, [...compiled.parameters]),
    );
    return Object.values(result.rows[0]!)[0]![0].Plan;
  }

  test("a market's comment pages, newest or oldest first, read one page of the index", async () => {
    const repo = createCommentRepository(database.db);
    const middle = await database.db
      .selectFrom('comments')
      .select(['createdAt', 'id'])
      .where('marketId', '=', hot)
      .orderBy('createdAt')
      .offset(2000)
      .limit(1)
      .executeTakeFirstOrThrow();
    for (const order of ['asc', 'desc'] as const) {
      for (const after of [undefined, { createdAt: middle.createdAt, id: middle.id }]) {
        const label = `order=${order}${after ? ' (keyset)' : ''}`;
        const plan = await planOf(repo.pageQuery({ marketId: hot, order, limit: 20, after }));
        assert.deepEqual(seqScans(plan, 'comments'), [], label);
        assert.ok(indexesIn(plan).includes('comments_market_created_idx'), label);
        const read = rowsRead(plan, 'comments');
        assert.ok(read <= 21, `${label}: read ${read} comments for a page of 20`);
      }
    }
  });

  test('the close sweep reads only the markets that are due', async () => {
    const plan = await planOf(createMarketRepository(database.db).dueClosesQuery(database.db, 100));
    assert.deepEqual(seqScans(plan, 'markets'), []);
    assert.ok(indexesIn(plan).includes('markets_close_due_idx'), JSON.stringify(plan));
    const read = rowsRead(plan, 'markets');
    assert.ok(read <= 7, `read ${read} markets to find the 7 due`);
  });
});
