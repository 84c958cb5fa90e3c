import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import type { CacheAside } from '../../lib/cache/cache.ts';
import type { UserRepository } from '../users/users.repository.ts';
import { createCachedMarketRepository } from './cached-markets.repository.ts';
import { createMarketRepository } from './markets.repository.ts';
import { marketsRoutes } from './markets.routes.ts';
import { createMarketsService } from './markets.service.ts';

/** Wires markets: repository (cached) → service → routes under /api/markets. */
export async function registerMarkets(
  app: FastifyInstance,
  deps: {
    database: Database;
    users: UserRepository;
    cache: CacheAside;
    config: Pick<Config, 'CACHE_TTL_SECONDS' | 'LIST_CACHE_TTL_SECONDS'>;
  },
) {
  // `markets.invalidate(id)` is what other modules call after committing a change to a market.
  const markets = createCachedMarketRepository(createMarketRepository(deps.database.db), deps.cache, {
    rowSeconds: deps.config.CACHE_TTL_SECONDS,
    listSeconds: deps.config.LIST_CACHE_TTL_SECONDS,
  });
  const service = createMarketsService({ markets, users: deps.users });
  await app.register(marketsRoutes(service), { prefix: '/api/markets' });
  return { markets, service };
}
