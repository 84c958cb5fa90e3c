import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.ts';
import type { Trx } from '../../db/transaction.ts';
import type { EventRepository } from '../events/events.repository.ts';
import type { UserRepository } from '../users/users.repository.ts';
import { createPriceHistoryRepository } from './history/price-history.repository.ts';
import { priceHistoryRoutes } from './history/price-history.routes.ts';
import { createPriceHistoryService } from './history/price-history.service.ts';
import type { MarketRepository } from './markets.repository.ts';
import { marketsRoutes } from './markets.routes.ts';
import { createMarketsService, type MarketFunding } from './markets.service.ts';

interface Deps {
  database: Database;
  /** The cached repository in the app (cached-markets.repository.ts); any MarketRepository works. */
  markets: MarketRepository;
  users: UserRepository;
  funding: MarketFunding;
  events: EventRepository;
  defaultLiquidity: number;
  deadlineMs: number;
  onMarketChanged?: (marketId: string) => Promise<void>;
  indexing?: (trx: Trx, marketId: string) => Promise<unknown>;
}

/** Wires markets: repository → service → routes under /api/markets, and their price history. */
export async function registerMarkets(app: FastifyInstance, { database, ...deps }: Deps) {
  const service = createMarketsService({ db: database.db, ...deps });
  await app.register(marketsRoutes(service), { prefix: '/api/markets' });
  const history = createPriceHistoryService({
    history: createPriceHistoryRepository(database.read),
    markets: service,
    settleMs: deps.deadlineMs,
  });
  await app.register(priceHistoryRoutes(history), { prefix: '/api' });
  return service;
}
