import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import type { Trx } from '../../db/transaction.ts';
import type { CacheAside } from '../../lib/cache/cache.ts';
import type { EventRepository } from '../events/index.ts';
import { defineModule } from '../module.ts';
import type { UserRepository } from '../users/index.ts';
import { createCachedMarketRepository } from './cached-markets.repository.ts';
import { createCloseAnnouncer } from './close-announcer.ts';
import { createPriceHistoryRepository } from './history/price-history.repository.ts';
import { priceHistoryRoutes } from './history/price-history.routes.ts';
import { createPriceHistoryService } from './history/price-history.service.ts';
import { startMarketCacheFollower } from './market-cache-follower.ts';
import { createMarketRepository, type MarketRepository } from './markets.repository.ts';
import { marketsRoutes } from './markets.routes.ts';
import { createMarketsService, type MarketFunding } from './markets.service.ts';

export type { CachedMarketRepository } from './cached-markets.repository.ts';
/** A market repository with no cache, for processes that have none (the worker). */
export { createMarketRepository, type MarketRepository } from './markets.repository.ts';
export { marketIdParams, marketListQuery } from './markets.schemas.ts';
export type { MarketFunding, MarketsService } from './markets.service.ts';

interface StoreDeps {
  database: Pick<Database, 'db' | 'read'>;
  cache: CacheAside;
  events: Pick<EventRepository, 'changedMarketsAfter' | 'lastSeq'>;
  config: Pick<Config, 'CACHE_TTL_SECONDS' | 'LIST_CACHE_TTL_SECONDS' | 'CACHE_FOLLOW_INTERVAL_MS'>;
  log: FastifyBaseLogger;
}

/**
 * The markets every module reads and writes, built before the modules that share it (trading funds
 * the markets that this module creates, so neither can build it inside the other): the seed's
 * CachedMarketRepository, cache-aside over PostgreSQL. Cache fills read the primary; pages the cache
 * does not hold are read from a replica (if any). With a shared (Redis) cache, each API process also
 * follows the event log to drop what a lost invalidation left behind: a per-process loop, because
 * each process must know its own cache is caught up before it reads from it again.
 */
export function createMarketStore({ database, cache, events, config, log }: StoreDeps) {
  const repository = createCachedMarketRepository(
    createMarketRepository(database.db),
    cache,
    { rowSeconds: config.CACHE_TTL_SECONDS, listSeconds: config.LIST_CACHE_TTL_SECONDS },
    createMarketRepository(database.read),
  );
  const follower =
    cache.kind === 'redis'
      ? startMarketCacheFollower({
          cache,
          events,
          markets: repository,
          intervalMs: config.CACHE_FOLLOW_INTERVAL_MS,
          log,
        })
      : undefined;
  return defineModule({
    repository,
    onClose: async () => follower?.stop(),
  });
}

interface Deps {
  database: Pick<Database, 'db' | 'read'>;
  /** The market store's repository in the API; the worker, which has no cache, passes a plain one. */
  markets: MarketRepository;
  users: Pick<UserRepository, 'findProfiles'>;
  funding: MarketFunding;
  events: Pick<EventRepository, 'append'>;
  /** DEFAULT_LIQUIDITY in cents: LMSR b of a market created without one. */
  defaultLiquidity: number;
  config: Pick<Config, 'WRITE_DEADLINE_MS' | 'MARKET_CLOSE_INTERVAL_MS'>;
  onMarketChanged?: (marketId: string) => Promise<void>;
  /** Runs inside the transaction that creates a market or changes its text (search enqueues indexing). */
  indexing?: (trx: Trx, marketId: string) => Promise<unknown>;
  log: FastifyBaseLogger;
}

/**
 * Wires markets: service → routes under /api/markets, their price history under /api, and the
 * sweep that announces markets whose close time passed (market.closed). The sweep is a per-process
 * loop of every process that runs workers, not a schedule: a close is announced within
 * MARKET_CLOSE_INTERVAL_MS (a second), below pg-boss cron's minute, and any number of processes may
 * sweep at once (the first to lock a market announces it).
 */
export function createMarketsModule({ database, markets, config, log, onMarketChanged, ...deps }: Deps) {
  const service = createMarketsService({
    db: database.db,
    markets,
    deadlineMs: config.WRITE_DEADLINE_MS,
    onMarketChanged,
    ...deps,
  });
  const history = createPriceHistoryService({
    history: createPriceHistoryRepository(database.read),
    markets: service,
    settleMs: config.WRITE_DEADLINE_MS,
  });
  const closes = createCloseAnnouncer({ db: database.db, markets, events: deps.events, onMarketChanged });
  return defineModule({
    service,
    routes: async (app) => {
      await app.register(marketsRoutes(service), { prefix: '/api/markets' });
      await app.register(priceHistoryRoutes(history), { prefix: '/api' });
    },
    sweeps: [
      {
        intervalMs: config.MARKET_CLOSE_INTERVAL_MS,
        async run() {
          const announced = await closes.announceDue();
          if (announced > 0) log.info({ announced }, 'market closes announced');
        },
        onError: (error) => log.warn({ err: error }, 'announcing market closes failed; trying again'),
      },
    ],
  });
}
