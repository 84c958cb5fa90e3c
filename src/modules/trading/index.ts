import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import { tradeRateLimit } from '../../plugins/rate-limit.ts';
import type { EventRepository } from '../events/index.ts';
import type { MarketRepository } from '../markets/index.ts';
import { defineModule } from '../module.ts';
import { idempotencyRepository } from './idempotency.repository.ts';
import { createLedgerRepository } from './ledger.repository.ts';
import { createOrderMatcher } from './order-matcher.ts';
import { createOrdersRepository } from './orders.repository.ts';
import { ordersRoutes } from './orders.routes.ts';
import { createOrdersService } from './orders.service.ts';
import { createPortfolioService } from './portfolio.service.ts';
import { createSettlementService } from './settlement.service.ts';
import { createTradeHistoryRepository } from './trade-history.repository.ts';
import { tradingRoutes } from './trading.routes.ts';
import { createTradingService } from './trading.service.ts';

interface Deps {
  database: Database;
  config: Pick<
    Config,
    | 'WRITE_DEADLINE_MS'
    | 'IDEMPOTENCY_KEY_TTL_HOURS'
    | 'IDEMPOTENCY_PRUNE_CRON'
    | 'TRADE_RATE_LIMIT_PER_MINUTE'
    | 'ORDER_FILLS_PER_TRADE'
    | 'ORDER_MAX_OPEN_PER_MARKET'
    | 'ORDER_EXPIRY_CRON'
  >;
  markets: MarketRepository;
  events: EventRepository;
  onMarketChanged?: (marketId: string) => Promise<void>;
  log: FastifyBaseLogger;
}

/**
 * Wires trading: repositories → trading, settlement and portfolio services → routes, and the
 * pruning of Idempotency-Keys past IDEMPOTENCY_KEY_TTL_HOURS (a schedule, IDEMPOTENCY_PRUNE_CRON).
 * `trading` funds markets (the markets module's MarketFunding).
 */
export function createTradingModule({ database, config, markets, events, onMarketChanged, log }: Deps) {
  const { db } = database;
  const deadlineMs = config.WRITE_DEADLINE_MS;
  const ledger = createLedgerRepository(db);
  const orders = createOrdersRepository(db);
  const matcher = createOrderMatcher({ ledger, orders, events, maxFills: config.ORDER_FILLS_PER_TRADE });
  const orderService = createOrdersService({
    db,
    ledger,
    markets,
    orders,
    matcher,
    maxOpenPerMarket: config.ORDER_MAX_OPEN_PER_MARKET,
    deadlineMs,
    onMarketChanged,
  });
  // What trading and settlement call: fills after a trade, and cancelling a market's open orders.
  const limitOrders = { matchAfterTrade: matcher.matchAfterTrade, cancelAllOpen: orderService.cancelAllOpen };
  const services = {
    trading: createTradingService({ db, ledger, markets, deadlineMs, onMarketChanged, limitOrders }),
    settlement: createSettlementService({
      db,
      ledger,
      markets,
      events,
      deadlineMs,
      onMarketChanged,
      limitOrders,
    }),
    portfolio: createPortfolioService({
      history: createTradeHistoryRepository(db, database.read),
      markets,
      ledger,
    }),
  };
  return defineModule({
    ...services,
    orders: orderService,
    routes: async (app) => {
      await app.register(tradingRoutes(services, tradeRateLimit(config)));
      await app.register(ordersRoutes(orderService, tradeRateLimit(config)));
    },
    schedules: [
      {
        name: 'maintenance.prune-idempotency-keys',
        cron: config.IDEMPOTENCY_PRUNE_CRON,
        async run() {
          const pruned = await idempotencyRepository.pruneOlderThan(db, config.IDEMPOTENCY_KEY_TTL_HOURS);
          if (pruned > 0) log.info({ pruned }, 'expired idempotency keys pruned');
        },
      },
      {
        name: 'maintenance.expire-orders',
        cron: config.ORDER_EXPIRY_CRON,
        async run() {
          const expired = await orderService.expireDue();
          if (expired > 0) log.info({ expired }, 'limit orders expired');
        },
      },
    ],
    /** Waits for trades still queued (their clients may have left); the app runs it after the HTTP server closed. */
    onClose: () => services.trading.idle(),
  });
}
