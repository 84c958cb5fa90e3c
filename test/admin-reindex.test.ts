import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';
import { createMarket, type TestUser } from './helpers/trading.ts';

/** Index jobs in pg-boss's table, by whether they still wait. */
async function indexJobs(t: TestApp) {
  const { rows } = await sql<{ total: number; waiting: number }>`
    select count(*)::int as total, count(*) filter (where state in ('created', 'retry'))::int as waiting
    from pgboss.job where name = 'search.index-market'`.execute(t.database.db);
  return rows[0]!;
}

/** Issue 12: POST /api/admin/reindex queued one job per market on every call. */
for (const kind of databaseKinds()) {
  describe(`admin reindex (${kind})`, () => {
    let t: TestApp;
    let admin: TestUser;

    // No workers: every job queued stays pending, as when a run is long or the workers are down.
    before(async () => {
      t = await buildTestApp(kind, { WORKERS: 'false' });
      admin = await t.user('admin');
      for (let i = 0; i < 3; i++) await createMarket(t, admin);
    });
    after(() => t.close());

    const reindex = async (app: TestApp) => {
      const res = await app.request({ method: 'POST', url: '/api/admin/reindex', headers: admin.auth });
      assert.equal(res.statusCode, 202, res.body);
      return res.json().data as { queued: number; alreadyPending: boolean };
    };

    test('while a run is pending, repeated and parallel reindex calls queue nothing more', async () => {
      const before = await indexJobs(t);
      const first = await reindex(t);
      assert.deepEqual(first, { queued: 3, alreadyPending: false });
      const again = await Promise.all([reindex(t), reindex(t), reindex(t)]);
      for (const answer of again) assert.deepEqual(answer, { queued: 0, alreadyPending: true });
      assert.equal((await indexJobs(t)).total, before.total + 3, 'one job per market, once');
    });

    test('once the run has been worked off, the next reindex queues every market again', async () => {
      const worked = await buildTestApp(kind, { WORKER_POLL_INTERVAL_MS: '500' });
      try {
        const owner = await worked.user('admin');
        for (let i = 0; i < 2; i++) await createMarket(worked, owner);
        const call = async () => {
          const res = await worked.request({
            method: 'POST',
            url: '/api/admin/reindex',
            headers: owner.auth,
          });
          assert.equal(res.statusCode, 202, res.body);
          return res.json().data as { queued: number; alreadyPending: boolean };
        };
        assert.deepEqual(await call(), { queued: 2, alreadyPending: false });
        await eventually(async () => (await indexJobs(worked)).waiting === 0, 30_000, 'jobs worked off');
        assert.deepEqual(await call(), { queued: 2, alreadyPending: false });
      } finally {
        await worked.close();
      }
    });
  });
}
