import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { seedSampleData } from '../scripts/lib/seed-database.ts';
import { openDatabase } from '../src/db/database.ts';
import { createMarketRepository } from '../src/modules/markets/markets.repository.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from './helpers/databases.ts';
import { backgroundQuiet } from './helpers/eventually.ts';

/**
 * Reads by id outside a transaction that start in one turn of the event loop are one statement
 * (batched-lookup.ts). Each caller must still get its own market, and a missing one nothing.
 */
for (const kind of databaseKinds()) {
  describe(`market lookups by id in one turn (${kind})`, () => {
    let t: TestDatabase;
    let ids: string[];
    before(async () => {
      t = await createTestDatabase(kind);
      await seedSampleData(t.database.db, { markets: 6, users: 2, seed: 3 });
      ids = (await t.database.db.selectFrom('markets').select('id').orderBy('id').execute()).map((r) => r.id);
    });
    after(() => t.cleanup());

    test('lookups started together are one statement, and each gets its own row', async () => {
      const markets = createMarketRepository(t.database.db);
      const alone = await Promise.all(ids.map((id) => markets.findById(id, t.database.db)));
      const unknown = randomUUID();
      await backgroundQuiet(t.database.stats);
      const before = t.database.stats.queries;
      const together = await Promise.all([
        ...ids.map((id) => markets.findById(id)),
        markets.findById(unknown),
        markets.findById(ids[0]!.toUpperCase()),
        markets.findById('not-a-uuid'),
        markets.findById(ids[1]!),
      ]);
      assert.equal(t.database.stats.queries - before, 1, 'one statement for all of them');
      assert.deepEqual(together.slice(0, ids.length), alone, 'each lookup got the row it asked for');
      assert.equal(together[ids.length], undefined, 'an id no market has: nothing');
      assert.deepEqual(together[ids.length + 1], alone[0], 'a UUID in capitals is the same id');
      assert.equal(together[ids.length + 2], undefined, 'not a UUID: nothing, and the others still read');
      assert.deepEqual(together[ids.length + 3], alone[1], 'the same id twice: both get it');
    });

    test('lookups in different turns are separate statements', async () => {
      const markets = createMarketRepository(t.database.db);
      await backgroundQuiet(t.database.stats);
      const before = t.database.stats.queries;
      for (const id of ids.slice(0, 3)) assert.equal((await markets.findById(id))?.id, id);
      assert.equal(t.database.stats.queries - before, 3);
    });
  });

  describe(`GET /api/markets/:id, many at once, uncached (${kind})`, () => {
    let t: TestApp;
    before(async () => {
      t = await buildTestApp(kind, { CACHE_TTL_SECONDS: '0', RATE_LIMIT_PER_MINUTE: '0' });
      await seedSampleData(t.database.db, { markets: 12, users: 2, seed: 4 });
    });
    after(() => t.close());

    test('each answer is its market with its ETag, and an unknown id is a 404', async () => {
      const rows = await t.database.db.selectFrom('markets').select(['id', 'name', 'version']).execute();
      const unknown = randomUUID();
      const answers = await Promise.all(
        [...rows.map((r) => r.id), unknown].map((id) =>
          t.request({ method: 'GET', url: `/api/markets/${id}` }),
        ),
      );
      for (const [i, row] of rows.entries()) {
        assert.equal(answers[i]!.statusCode, 200);
        assert.equal(answers[i]!.json().data.id, row.id);
        assert.equal(answers[i]!.json().data.name, row.name);
        assert.equal(answers[i]!.headers.etag, `"${row.version}"`);
      }
      assert.equal(answers.at(-1)!.statusCode, 404);
      assert.equal(answers.at(-1)!.json().code, 'NOT_FOUND');
    });
  });
}

describe('a batch whose statement fails', {
  skip: process.env.TEST_DATABASE_URL ? false : 'set TEST_DATABASE_URL to a PostgreSQL server',
}, () => {
  let t: TestDatabase;
  before(async () => {
    t = await createTestDatabase('postgres');
    await seedSampleData(t.database.db, { markets: 2, users: 2, seed: 1 });
  });
  after(() => t.cleanup());

  test('fails every lookup in it, and the next batch reads again', async () => {
    // A pool that cannot connect in time: every lookup of the batch gets the error, none hangs.
    const database = await openDatabase({ url: t.url!, poolSize: 1, connectTimeoutMs: 200 });
    try {
      const markets = createMarketRepository(database.db);
      const ids = (await database.db.selectFrom('markets').select('id').execute()).map((r) => r.id);
      const held = await database.db.connection().execute(async (connection) => {
        const outcomes = await Promise.allSettled(ids.map((id) => markets.findById(id)));
        // The one connection is this callback's until it returns.
        await connection.selectNoFrom((eb) => eb.lit(1).as('one')).execute();
        return outcomes;
      });
      assert.deepEqual(
        held.map((o) => o.status),
        ids.map(() => 'rejected'),
      );
      const again = await Promise.all(ids.map((id) => markets.findById(id)));
      assert.deepEqual(
        again.map((row) => row?.id),
        ids,
      );
    } finally {
      await database.close();
    }
  });
});
