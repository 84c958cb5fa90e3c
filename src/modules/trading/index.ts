import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import { tradeRateLimit } from '../../plugins/rate-limit.ts';
import type { MarketRepository } from '../markets/markets.repository.ts';
import { createPortfolioService } from './portfolio.service.ts';
import { createSettlementService } from './settlement.service.ts';
import { createTradeHistoryRepository } from './trade-history.repository.ts';
import { createTradingRepository } from './trading.repository.ts';
import { tradingRoutes } from './trading.routes.ts';
import { createTradingService } from './trading.service.ts';

interface Deps {
  database: Database;
  config: Config;
  markets: MarketRepository;
  onMarketChanged?: (marketId: string) => Promise<void>;
}

/** Wires trading: repositories → trading, settlement and portfolio services. Routes are registered separately. */
export function createTradingModule({ database, config, markets, onMarketChanged }: Deps) {
  const { db } = database;
  const trading = createTradingRepository(db);
  const services = {
    trading: createTradingService({ db, trading, markets, onMarketChanged }),
    settlement: createSettlementService({ db, trading, markets, onMarketChanged }),
    portfolio: createPortfolioService({ history: createTradeHistoryRepository(db), markets, trading }),
  };
  return {
    ...services,
    register: (app: FastifyInstance) => app.register(tradingRoutes(services, tradeRateLimit(config))),
  };
}
