import type { Kysely } from 'kysely';
import type { DB, MarketRow, OrderRow, OrderStatus, TradeSide } from '../../db/schema.ts';
import { inTransaction, type Trx } from '../../db/transaction.ts';
import { type AnswerChoice, answerIndexIn } from '../../domain/answers.ts';
import { InsufficientBalance, InsufficientShares } from '../../domain/domain-errors.ts';
import { costBasisOf, fillableNow, OrderNotOpen, TooManyOpenOrders } from '../../domain/limit-order.ts';
import { assertTradable } from '../../domain/market-status.ts';
import { toUnits } from '../../domain/money.ts';
import { decodeCursor, encodeCursor } from '../../lib/cursor.ts';
import { deadlineIn } from '../../lib/deadline.ts';
import { ApiError } from '../../lib/errors.ts';
import { UUID_PATTERN } from '../../lib/slug.ts';
import type { AuthUser } from '../auth/permissions.ts';
import type { MarketRepository } from '../markets/markets.repository.ts';
import type { LedgerRepository } from './ledger.repository.ts';
import { orderAnswerIn, orderDto, orderLevelDto } from './order.dto.ts';
import type { OrderMatcher } from './order-matcher.ts';
import type { OrdersRepository } from './orders.repository.ts';
import { bookOf, outcomeOf } from './trade-execution.ts';
import { tradeDto } from './trading.dto.ts';

export type OrdersService = ReturnType<typeof createOrdersService>;

/** The answer by a binary `outcome` or any market's `answerId` (resolved against the market here). */
export type PlaceOrderInput = AnswerChoice & {
  side: TradeSide;
  /** buy: cents to spend; sell: micro-shares to sell (the schema converts from units). */
  quantity: number;
  limitMilli: number;
  expiresAt?: Date | undefined;
};

interface Deps {
  db: Kysely<DB>;
  ledger: Pick<
    LedgerRepository,
    'lockUser' | 'lockUsers' | 'addToBalance' | 'findPosition' | 'applyToPosition'
  >;
  markets: Pick<MarketRepository, 'findForUpdate' | 'findById' | 'findBySlug'>;
  orders: OrdersRepository;
  matcher: OrderMatcher;
  /** ORDER_MAX_OPEN_PER_MARKET. */
  maxOpenPerMarket: number;
  /** WRITE_DEADLINE_MS. */
  deadlineMs: number;
  onMarketChanged?: (marketId: string) => Promise<void>;
}

const ORDER_SORT = { sort: 'createdAt', order: 'desc', kind: 'timestamp' } as const;

/**
 * Limit orders: placing (reserve, fill what the limit allows now, rest the rest), cancelling,
 * expiring and, in a settlement's transaction, cancelling all of a market's. Every path takes the
 * market's row lock first, then users (ledger.repository.ts), so a fill, a cancel and an expiry of
 * one order take turns and exactly one of them sees it open.
 */
export function createOrdersService({
  db,
  ledger,
  markets,
  orders,
  matcher,
  maxOpenPerMarket,
  deadlineMs,
  onMarketChanged,
}: Deps) {
  /** What an open order holds back goes home: cents to the balance, shares (and their cost basis) to the position. */
  async function returnReservation(trx: Trx, market: MarketRow, order: OrderRow) {
    if (order.reserved === 0) return;
    if (order.side === 'buy') {
      await ledger.addToBalance(trx, order.userId, order.reserved);
    } else {
      await ledger.applyToPosition(
        trx,
        {
          marketId: order.marketId,
          userId: order.userId,
          answerIndex: order.answerIndex,
          outcome: outcomeOf(market, order.answerIndex),
        },
        { shares: order.reserved, costBasis: order.reservedCostBasis, netSpent: 0 },
      );
    }
  }

  /** Closes these open orders of a locked market, their reservations returned, owners locked in id order. */
  async function closeAll(trx: Trx, market: MarketRow, open: OrderRow[], status: 'cancelled' | 'expired') {
    if (open.length === 0) return 0;
    await ledger.lockUsers(
      trx,
      open.map((o) => o.userId),
    );
    for (const order of open) await returnReservation(trx, market, order);
    await orders.close(
      trx,
      open.map((o) => o.id),
      status,
    );
    return open.length;
  }

  async function marketOf(idOrSlug: string): Promise<MarketRow> {
    const market = UUID_PATTERN.test(idOrSlug)
      ? await markets.findById(idOrSlug.toLowerCase())
      : await markets.findBySlug(idOrSlug);
    if (!market) throw ApiError.notFound('Market');
    return market;
  }

  async function placeOnce(trx: Trx, user: AuthUser, marketIdOrSlug: string, input: PlaceOrderInput) {
    const market = await markets.findForUpdate(trx, marketIdOrSlug);
    if (!market) throw ApiError.notFound('Market');
    const account = await ledger.lockUser(trx, user.id);
    if (!account) throw ApiError.unauthorized('The user of this token no longer exists');
    assertTradable(market);
    const answerIndex = answerIndexIn(market, input);
    const outcome = outcomeOf(market, answerIndex);
    if ((await orders.countOpen(trx, market.id, user.id)) >= maxOpenPerMarket)
      throw new TooManyOpenOrders(maxOpenPerMarket);

    // Reserve: what the order could spend (buy) or sell leaves the balance (position) now.
    let reservedCostBasis = 0;
    let balance = account.balance;
    if (input.side === 'buy') {
      if (account.balance < input.quantity)
        throw InsufficientBalance.forTrade(input.quantity, account.balance);
      balance = await ledger.addToBalance(trx, user.id, -input.quantity);
    } else {
      const position = await ledger.findPosition(trx, market.id, user.id, answerIndex);
      if (!position || position.shares < input.quantity)
        throw new InsufficientShares(position?.shares ?? 0, market.answers[answerIndex]!.text);
      reservedCostBasis = costBasisOf(position, input.quantity);
      await ledger.applyToPosition(
        trx,
        { marketId: market.id, userId: user.id, answerIndex, outcome },
        { shares: -input.quantity, costBasis: -reservedCostBasis, netSpent: 0 },
      );
    }
    let order = await orders.insert(trx, {
      marketId: market.id,
      userId: user.id,
      answerIndex,
      side: input.side,
      limitMilli: input.limitMilli,
      amount: input.quantity,
      reservedCostBasis,
      expiresAt: input.expiresAt ?? null,
    });

    // Fill at once as far as the limit allows, then let that trade cross other resting orders.
    let current: MarketRow = market;
    let trade: ReturnType<typeof tradeDto> | null = null;
    const quantity = fillableNow(bookOf(market), order);
    if (quantity > 0) {
      const filled = await matcher.fill(trx, market, order, quantity);
      order = filled.order;
      trade = tradeDto({ ...filled.trade, answerId: market.answers[answerIndex]!.id });
      current = await matcher.matchAfterTrade(trx, filled.market);
      // A sale's proceeds arrived in the balance.
      if (order.side === 'sell') balance += filled.trade.amount;
    }
    return {
      order: orderDto(order, orderAnswerIn(market, answerIndex)),
      trade,
      balance,
      marketId: current.id,
      changed: quantity > 0,
    };
  }

  return {
    async place(user: AuthUser, marketIdOrSlug: string, input: PlaceOrderInput, receivedAt?: number) {
      const result = await inTransaction(db, (trx) => placeOnce(trx, user, marketIdOrSlug, input), {
        deadline: deadlineIn(deadlineMs, receivedAt),
        prepared: true,
      });
      if (result.changed) await onMarketChanged?.(result.marketId);
      return { order: result.order, trade: result.trade, balance: toUnits(result.balance) };
    },

    /** Returns the reservation at once. Someone else's order is a 404; one no longer open a 409. */
    async cancel(user: AuthUser, orderId: string, receivedAt?: number) {
      const found = await orders.findById(orderId);
      if (!found || found.userId !== user.id) throw ApiError.notFound('Order');
      const cancelled = await inTransaction(
        db,
        async (trx) => {
          const market = (await markets.findForUpdate(trx, found.marketId))!;
          await ledger.lockUser(trx, user.id);
          const order = await orders.lock(trx, orderId);
          if (!order) throw ApiError.notFound('Order');
          if (order.status !== 'open') throw new OrderNotOpen(order.status);
          await returnReservation(trx, market, order);
          await orders.close(trx, [order.id], 'cancelled');
          return orderDto((await orders.findById(order.id, trx))!, orderAnswerIn(market, order.answerIndex));
        },
        { deadline: deadlineIn(deadlineMs, receivedAt) },
      );
      return cancelled;
    },

    async myOrders(
      userId: string,
      query: { status?: OrderStatus | undefined; limit: number; cursor?: string | undefined },
    ) {
      const c = query.cursor ? decodeCursor(query.cursor, ORDER_SORT) : undefined;
      const rows = await orders.userPage(
        userId,
        query.status,
        query.limit,
        c && { createdAt: new Date(c.value), id: c.id },
      );
      const hasMore = rows.length > query.limit;
      const page = hasMore ? rows.slice(0, query.limit) : rows;
      const last = page.at(-1);
      return {
        data: page.map((o) => orderDto(o, o)),
        meta: {
          limit: query.limit,
          hasMore,
          nextCursor:
            hasMore && last
              ? encodeCursor({ ...ORDER_SORT, value: last.createdAt.toISOString(), id: last.id })
              : null,
        },
      };
    },

    async orderbook(marketIdOrSlug: string) {
      const market = await marketOf(marketIdOrSlug);
      const levels = await orders.levels(market.id);
      return { marketId: market.id, levels: levels.map((l) => orderLevelDto(market, l)) };
    },

    /** In a settlement's transaction, the market locked: every open order cancelled, reservations returned. */
    async cancelAllOpen(trx: Trx, market: MarketRow): Promise<number> {
      return closeAll(trx, market, await orders.openInMarket(trx, market.id), 'cancelled');
    },

    /** The expiry schedule: each market with orders past their expiresAt, under its lock. */
    async expireDue(): Promise<number> {
      let expired = 0;
      for (const marketId of await orders.marketsWithDue(100)) {
        expired += await inTransaction(db, async (trx) => {
          const market = (await markets.findForUpdate(trx, marketId))!;
          return closeAll(trx, market, await orders.dueInMarket(trx, marketId), 'expired');
        });
      }
      return expired;
    },
  };
}
