import { openScriptDatabase } from '../scripts/lib/script-database.ts';
import { createJobQueue, jobQueueOptions } from './lib/jobs/queue.ts';
import { createLogger } from './lib/logger.ts';
import { createEventRepository } from './modules/events/events.repository.ts';
import { createCloseAnnouncer } from './modules/markets/close-announcer.ts';
import { createMarketRepository } from './modules/markets/markets.repository.ts';
import { createSearchModule } from './modules/search/index.ts';
import { createWebhooksModule } from './modules/webhooks/index.ts';

/**
 * Entry point for worker-only processes (`npm run worker`): scale background jobs out without
 * serving HTTP. Same database as the API (DATABASE_URL, or a running server's PGlite through its
 * socket); run the API with WORKERS=0 to leave all jobs to these.
 */
const { config, database, via } = await openScriptDatabase();
const log = createLogger(config.LOG_LEVEL, { name: 'worker' });
const queue = await createJobQueue(database, jobQueueOptions(config, log));
const search = await createSearchModule({ database, config, queue, log });
await search.startWorkers();
// No cache here: API instances with Redis drop the closed market from the event log (their follower).
const closes = createCloseAnnouncer({
  db: database.db,
  markets: createMarketRepository(database.db),
  events: createEventRepository(database.db),
}).start(config.MARKET_CLOSE_INTERVAL_MS, log);
const webhookDispatcher = await createWebhooksModule({ database, config, queue, log }).startWorkers();
log.info({ database: via, concurrency: config.WORKER_CONCURRENCY }, 'worker started');

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'worker stopping: waiting for running jobs');
    // Running jobs get the whole budget; one that does not finish stays active and is retried later.
    Promise.all([closes.stop(), webhookDispatcher.stop()])
      .then(() => queue.stop(config.SHUTDOWN_TIMEOUT_MS))
      .then(() => database.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'worker shutdown failed');
          process.exit(1);
        },
      );
  });
}
