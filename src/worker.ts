import { openScriptDatabase } from '../scripts/lib/script-database.ts';
import { centsOf } from './domain/money.ts';
import { createCacheAside } from './lib/cache/cache.ts';
import { createMemoryCache } from './lib/cache/memory-cache.ts';
import { createJobQueue, jobQueueOptions } from './lib/jobs/queue.ts';
import { createLogger } from './lib/logger.ts';
import { createEventsModule } from './modules/events/index.ts';
import { createLeaderboardModule } from './modules/leaderboard/index.ts';
import { createMarketRepository, createMarketsModule } from './modules/markets/index.ts';
import { type Module, startBackgroundWork } from './modules/module.ts';
import { createSearchModule } from './modules/search/index.ts';
import { createTradingModule } from './modules/trading/index.ts';
import { createUsersModule } from './modules/users/index.ts';
import { createWebhooksModule } from './modules/webhooks/index.ts';

/**
 * Entry point for worker-only processes (`npm run worker`): scale background jobs out without
 * serving HTTP. Same database as the API (DATABASE_URL, or a running server's PGlite through its
 * socket); run the API with WORKERS=0 to leave all jobs, schedules and sweeps to these. The modules
 * are the API's; only their background work runs here.
 */
const { config, database, via } = await openScriptDatabase();
const log = createLogger(config.LOG_LEVEL, { name: 'worker' });
const queue = await createJobQueue(database, jobQueueOptions(config, log, true));
const eventLog = createEventsModule({ database, config, log });
const { events } = eventLog;
// No cache here: API instances with Redis drop a market this process changed from the event log (their follower).
const markets = createMarketRepository(database.db);
const trading = createTradingModule({ database, config, markets, events, log });
const users = createUsersModule({ database, signupGrantCents: centsOf(config.SIGNUP_GRANT) }).users;
const modules: Module[] = [
  await createSearchModule({ database, config, queue, log }),
  createMarketsModule({
    database,
    markets,
    users,
    funding: trading.trading,
    events,
    defaultLiquidity: centsOf(config.DEFAULT_LIQUIDITY),
    config,
    log,
  }),
  trading,
  // Only its schedules run here; the cache it takes serves the API's reads.
  createLeaderboardModule({
    database,
    config,
    users,
    cache: createCacheAside(createMemoryCache(), { log, followed: false }),
    log,
  }),
  createWebhooksModule({ database, config, queue, log }),
  eventLog,
];
const background = await startBackgroundWork(queue, modules, log);
log.info({ database: via, concurrency: config.WORKER_CONCURRENCY }, 'worker started');

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'worker stopping: waiting for running jobs');
    // Running jobs get the whole budget; one that does not finish stays active and is retried later.
    background
      .stop()
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
