import { z } from 'zod';
import { createJobQueue, jobQueueOptions } from '../src/lib/jobs/queue.ts';
import { enqueueIndexingMany } from '../src/modules/search/indexing.jobs.ts';
import { wholeNumberArg } from './lib/cli-args.ts';
import { openScriptDatabase, parseArgs } from './lib/script-database.ts';
import { seedSampleData } from './lib/seed-database.ts';

/**
 * `npm run seed -- [--markets 10000] [--users 40] [--seed 1] [--batch 5000]`
 * Loads realistic sample markets into DATABASE_URL, the running server's PGlite, or DATA_DIR.
 * The same seed gives the same markets; running it twice with one seed adds nothing.
 */
const whole = wholeNumberArg;
const args = z
  .strictObject({
    markets: whole(0, 5_000_000).default(10_000),
    users: whole(1, 1000).default(40),
    seed: whole(0, 2 ** 32 - 1).default(1),
    batch: whole(1, 20_000).default(5000),
  })
  .safeParse(parseArgs(process.argv.slice(2)));
if (!args.success) {
  const issue = args.error.issues[0]!;
  console.error('usage: npm run seed -- [--markets 10000] [--users 40] [--seed 1] [--batch 5000]');
  console.error(`${issue.path.length ? `--${issue.path.join('.')}: ` : ''}${issue.message}`);
  process.exit(2);
}
const { markets, users, seed, batch } = args.data;
const { config, database, via } = await openScriptDatabase();
// Seeded markets are queued for search indexing in the seed's transaction; the server's workers
// (or `npm run worker`) embed them, now or at their next start.
const queue = await createJobQueue(database, jobQueueOptions(config, console));
try {
  const started = performance.now();
  const result = await seedSampleData(database.db, {
    markets,
    users,
    seed,
    batchSize: batch,
    enqueueIndexing: (trx, ids) => enqueueIndexingMany(queue, trx, ids),
    onBatch: (done, total) => {
      if (process.stderr.isTTY) process.stderr.write(`\r${done}/${total} markets`);
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `seeded ${result.inserted} markets (${result.skipped} already present) by ${result.users} users ` +
      `in ${seconds.toFixed(1)} s (${Math.round(result.inserted / seconds)}/s) via ${via}`,
  );
} finally {
  await queue.stop(0);
  await database.close();
}
