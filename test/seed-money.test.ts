import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { seedSampleData } from '../scripts/lib/seed-database.ts';
import { createJobQueue, jobQueueOptions } from '../src/lib/jobs/queue.ts';
import { enqueueIndexingMany } from '../src/modules/search/indexing.jobs.ts';
import { buildTestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';
import { ledger } from './helpers/trading.ts';

const MARKETS = 300;

/**
 * Issue 12, "money from the first seed": a newcomer who seeded, traded 1 unit and resolved YES got
 * a 500 (escrow could not cover the payouts), a seeded market at 0.98 traded as if at 0.5, and
 * search never indexed seeded markets. Seed as `npm run seed` does (its loader, with its own job
 * queue beside the running app, as the script beside a server), then use the API.
 */
for (const kind of databaseKinds()) {
  describe(`seeded data obeys the money rules (${kind})`, () => {
    test('after seeding: ledger 0, trades priced at the seeded probability, resolve pays, search indexed', async () => {
      const t = await buildTestApp(kind, { WORKER_POLL_INTERVAL_MS: '500' });
      try {
        const queue = await createJobQueue(t.database, jobQueueOptions(t.config, console));
        try {
          const seeded = await seedSampleData(t.database.db, {
            markets: MARKETS,
            users: 20,
            seed: 11,
            enqueueIndexing: (trx, ids) => enqueueIndexingMany(queue, trx, ids),
          });
          assert.equal(seeded.inserted, MARKETS);
        } finally {
          await queue.stop(0);
        }
        const admin = await t.user('admin');
        const newcomer = await t.user();
        assert.equal((await ledger(t, admin)).difference, 0, 'balanced right after seeding');

        const open = await t.database.db
          .selectFrom('markets')
          .select(['id', 'name', 'probability'])
          .where('status', '=', 'active')
          .where('closesAt', '>', new Date(Date.now() + 3_600_000))
          .orderBy('probability', 'desc')
          .execute();
        const favourite = open[0]!;
        assert.ok(favourite.probability > 0.9, `a seeded market near certainty (${favourite.probability})`);
        const bought = await t.request({
          method: 'POST',
          url: `/api/markets/${favourite.id}/trades`,
          headers: newcomer.auth,
          payload: { outcome: 'YES', side: 'buy', amount: 1 },
        });
        assert.equal(bought.statusCode, 201, bought.body);
        const { trade } = bought.json().data;
        assert.ok(
          Math.abs(trade.probabilityBefore - favourite.probability) < 1e-9,
          `priced at ${trade.probabilityBefore}, seeded at ${favourite.probability}`,
        );
        assert.ok(trade.shares < 1.1, `1 unit buys about 1/p shares at p > 0.9, not 2 (${trade.shares})`);

        const resolved = await t.request({
          method: 'POST',
          url: `/api/markets/${favourite.id}/resolve`,
          headers: admin.auth,
          payload: { outcome: 'YES' },
        });
        assert.equal(resolved.statusCode, 200, resolved.body);
        assert.equal((await ledger(t, admin)).difference, 0, 'balanced after a trade and a resolution');

        // The seed queued every market for indexing; the app's workers run the jobs.
        const completed = async () =>
          (
            await sql<{ n: number }>`select count(*)::int as n from pgboss.job
              where name = 'search.index-market' and state = 'completed'`.execute(t.database.db)
          ).rows[0]!.n;
        await eventually(async () => (await completed()) >= MARKETS, 60_000, 'seeded markets indexed');
        if (kind === 'pglite') {
          const { embedded } = await t.database.db
            .selectFrom('marketEmbeddings')
            .select((eb) => eb.fn.countAll<number>().as('embedded'))
            .executeTakeFirstOrThrow();
          assert.equal(Number(embedded), MARKETS, 'every seeded market has an embedding (pgvector)');
        }
        const search = await t.request({
          method: 'GET',
          url: `/api/markets/search?q=${encodeURIComponent(open[1]!.name)}&limit=10`,
        });
        assert.equal(search.statusCode, 200, search.body);
        assert.ok(search.json().data.some((m: { id: string }) => m.id === open[1]!.id));
      } finally {
        await t.close();
      }
    });
  });
}
