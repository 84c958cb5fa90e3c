import type { MarketRow, OrderRow } from '../../db/schema.ts';
import type { Trx } from '../../db/transaction.ts';
import { bookPrices, fillableNow, rankCrossed } from '../../domain/limit-order.ts';
import { planTrade } from '../../domain/trade.ts';
import type { EventRepository } from '../events/events.repository.ts';
import type { LedgerRepository } from './ledger.repository.ts';
import type { OrdersRepository } from './orders.repository.ts';
import { bookOf, recordPlanned } from './trade-execution.ts';
import { tradeEventDto } from './trading.dto.ts';

export type OrderMatcher = ReturnType<typeof createOrderMatcher>;

interface Deps {
  ledger: Pick<LedgerRepository, 'recordTrade'>;
  orders: Pick<OrdersRepository, 'crossed' | 'applyFill'>;
  events: Pick<EventRepository, 'append'>;
  /** ORDER_FILLS_PER_TRADE. */
  maxFills: number;
}

/**
 * Fills resting limit orders against the market maker, inside the caller's transaction and under
 * its lock on the market row. The rule (which order, how much) is src/domain/limit-order.ts; this
 * writes what it decided. A fill is a trade like any other: a ledger line by the order's owner, the
 * book, and a `trade.created` event. What a fill spends or sells was reserved when the order was
 * placed, so a buy's fill moves no balance and a sell's moves no shares out of the position.
 */
export function createOrderMatcher({ ledger, orders, events, maxFills }: Deps) {
  /** Trades `quantity` (cents to spend or micro-shares to sell) of the order with the maker. */
  async function fill(trx: Trx, market: MarketRow, order: OrderRow, quantity: number) {
    const buy = order.side === 'buy';
    const planned = planTrade(
      bookOf(market),
      buy
        ? { balance: order.reserved }
        : { balance: 0, position: { shares: order.reserved, costBasis: order.reservedCostBasis } },
      { outcome: order.answerIndex, side: order.side, quantity },
    );
    const { result, deltas } = planned;
    // What a buy's fill spends was reserved off the balance; a sell's shares and their cost basis
    // already left the position when the order was placed, and its proceeds go to the balance.
    const { trade, market: updated } = await recordPlanned(ledger, trx, market, {
      userId: order.userId,
      answerIndex: order.answerIndex,
      side: order.side,
      planned,
      balanceDelta: buy ? 0 : result.cents,
      positionDelta: buy ? deltas.position : { shares: 0, costBasis: 0, netSpent: deltas.position.netSpent },
    });
    const filled = await orders.applyFill(trx, order.id, {
      quantity,
      reservedCostBasis: buy ? 0 : -deltas.position.costBasis,
      shares: result.shares,
      cents: result.cents,
    });
    await events.append(trx, {
      type: 'trade.created',
      marketId: market.id,
      payload: tradeEventDto({ trade, market: updated }),
    });
    return { market: updated, order: filled, trade };
  }

  return {
    fill,

    /**
     * After a trade: fills the orders its price crossed, in the matching rule's order, at most
     * maxFills of them, re-reading the prices after each. Returns the market as it then is.
     */
    async matchAfterTrade(trx: Trx, market: MarketRow): Promise<MarketRow> {
      let current = market;
      let fills = 0;
      while (fills < maxFills) {
        const candidates = await orders.crossed(
          trx,
          current.id,
          bookPrices(bookOf(current)),
          maxFills - fills,
        );
        let progressed = false;
        for (const order of rankCrossed(bookPrices(bookOf(current)), candidates)) {
          if (fills >= maxFills) break;
          const quantity = fillableNow(bookOf(current), order);
          if (quantity <= 0) continue;
          current = (await fill(trx, current, order, quantity)).market;
          fills += 1;
          progressed = true;
        }
        if (!progressed) break;
      }
      return current;
    },
  };
}
