import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createSearchRepository } from '../src/modules/search/search.repository.ts';
import { ensureVectorSupport } from '../src/modules/search/vector-support.ts';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';

describe('vector support at startup (pglite)', () => {
  let testDb: TestDatabase;
  before(async () => {
    testDb = await createTestDatabase('pglite');
  });
  after(() => testDb.cleanup());

  const columnType = async () =>
    (
      await sql<{ type: string }>`select format_type(atttypid, atttypmod) as type from pg_attribute
        where attrelid = 'market_embeddings'::regclass and attname = 'embedding'`.execute(testDb.database.db)
    ).rows[0]?.type;

  test('changing EMBEDDING_DIMENSIONS replaces the column and drops vectors that can no longer be compared', async () => {
    const { db } = testDb.database;
    assert.deepEqual(await ensureVectorSupport(db, 8), { enabled: true });
    assert.equal(await columnType(), 'vector(8)');
    const user = await db
      .insertInto('users')
      .values({ email: 'v@example.com', name: 'V' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const market = await db
      .insertInto('markets')
      .values({
        slug: 'vec',
        name: 'Vector market',
        category: 'x',
        closesAt: new Date(Date.now() + 1e9),
        creatorId: user.id,
      })
      .returning(['id', 'version'])
      .executeTakeFirstOrThrow();
    await createSearchRepository(db).saveEmbeddings([market], 'model-a', [[1, 0, 0, 0, 0, 0, 0, 0]]);

    assert.deepEqual(await ensureVectorSupport(db, 8), { enabled: true }, 'same dimensions: nothing changes');
    assert.equal((await db.selectFrom('marketEmbeddings').selectAll().execute()).length, 1);

    await ensureVectorSupport(db, 16);
    assert.equal(await columnType(), 'vector(16)');
    assert.equal((await db.selectFrom('marketEmbeddings').selectAll().execute()).length, 0);
  });

  test('a slow job that embedded an older version never overwrites a newer embedding', async () => {
    const { db } = testDb.database;
    const repo = createSearchRepository(db);
    const { id } = await db.selectFrom('markets').select('id').executeTakeFirstOrThrow();
    const v = (x: number) => [x, ...new Array(15).fill(0)];
    await repo.saveEmbeddings([{ id, version: 3 }], 'm', [v(1)]);
    await repo.saveEmbeddings([{ id, version: 2 }], 'm', [v(-1)]);
    const row = await db
      .selectFrom('marketEmbeddings')
      .select('marketVersion')
      .where('marketId', '=', id)
      .executeTakeFirstOrThrow();
    assert.equal(row.marketVersion, 3);
  });
});
