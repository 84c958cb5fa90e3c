import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import { startPeriodicTask } from '../../lib/periodic-task.ts';
import { tradeRateLimit } from '../../plugins/rate-limit.ts';
import type { EventRepository } from '../events/events.repository.ts';
import type { MarketRepository } from '../markets/markets.repository.ts';
import { idempotencyRepository } from './idempotency.repository.ts';
import { createLedgerRepository } from './ledger.repository.ts';
import { createPortfolioService } from './portfolio.service.ts';
import { createSettlementService } from './settlement.service.ts';
import { createTradeHistoryRepository } from './trade-history.repository.ts';
import { tradingRoutes } from './trading.routes.ts';
import { createTradingService } from './trading.service.ts';

interface Deps {
  database: Database;
  config: Config;
  markets: MarketRepository;
  events: EventRepository;
  onMarketChanged?: (marketId: string) => Promise<void>;
  log: FastifyBaseLogger;
}

const HOUR_MS = 3_600_000;

/**
 * Wires trading: repositories → trading, settlement and portfolio services. Routes are registered
 * separately; `startMaintenance` prunes Idempotency-Keys past IDEMPOTENCY_KEY_TTL_HOURS, hourly.
 */
export function createTradingModule({ database, config, markets, events, onMarketChanged, log }: Deps) {
  const { db } = database;
  const deadlineMs = config.WRITE_DEADLINE_MS;
  const ledger = createLedgerRepository(db);
  const services = {
    trading: createTradingService({ db, ledger, markets, events, deadlineMs, onMarketChanged }),
    settlement: createSettlementService({ db, ledger, markets, events, deadlineMs, onMarketChanged }),
    portfolio: createPortfolioService({
      history: createTradeHistoryRepository(db, database.read),
      markets,
      ledger,
    }),
  };
  return {
    ...services,
    register: (app: FastifyInstance) => app.register(tradingRoutes(services, tradeRateLimit(config))),
    startMaintenance: () =>
      startPeriodicTask(
        HOUR_MS,
        async () => {
          const pruned = await idempotencyRepository.pruneOlderThan(db, config.IDEMPOTENCY_KEY_TTL_HOURS);
          if (pruned > 0) log.info({ pruned }, 'expired idempotency keys pruned');
        },
        (error) => log.warn({ err: error }, 'pruning idempotency keys failed; trying again in an hour'),
      ),
  };
}
