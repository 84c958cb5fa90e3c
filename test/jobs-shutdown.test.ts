import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createJobQueue, type JobQueue } from '../src/lib/jobs/queue.ts';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';

const OPTIONS = { retry: { limit: 2, delaySeconds: 1, delayMaxSeconds: 10 }, pollIntervalMs: 500 };
const MARKET = '00000000-0000-4000-8000-000000000001';

// The queue on its own, over a real (PGlite) database: what stop() does with a job in flight.
describe('job queue shutdown (pglite)', () => {
  let testDb: TestDatabase;
  before(async () => {
    testDb = await createTestDatabase('pglite');
  });
  after(() => testDb.cleanup());

  async function runOne(jobMs: number) {
    const queue: JobQueue = await createJobQueue(testDb.database, OPTIONS);
    const progress = { started: false, finished: false };
    await queue.work('search.index-market', { concurrency: 1, batchSize: 1 }, async (jobs) => {
      progress.started = true;
      await sleep(jobMs);
      progress.finished = true;
      return jobs.map((job) => ({ id: job.id, status: 'completed' as const }));
    });
    const id = await queue.send('search.index-market', { marketId: MARKET });
    await eventually(() => progress.started, 10_000, 'job started');
    return { queue, progress, id };
  }

  test('stop waits for a running job to finish and records it done', async () => {
    const { queue, progress } = await runOne(800);
    await queue.stop(5000);
    assert.equal(progress.finished, true);
    // A stopped queue object cannot be asked; a fresh one over the same database can.
    const fresh = await createJobQueue(testDb.database, OPTIONS);
    try {
      assert.deepEqual(await fresh.countByState('search.index-market'), { completed: 1 });
    } finally {
      await fresh.stop(1000);
    }
  });

  test('stop is bounded: a job still running at the deadline is never marked done; it goes back to be retried', async () => {
    const { queue, progress } = await runOne(3000);
    const started = Date.now();
    await queue.stop(300);
    assert.ok(Date.now() - started < 2000, 'stop returned at its deadline');
    assert.equal(progress.finished, false);
    const fresh = await createJobQueue(testDb.database, OPTIONS);
    try {
      // The first test's job is the completed one; this one was failed back to `retry` by stop().
      const states = await fresh.countByState('search.index-market');
      assert.deepEqual(states, { completed: 1, retry: 1 });
    } finally {
      await fresh.stop(1000);
      await eventually(() => progress.finished, 10_000, 'handler finished');
    }
  });
});
