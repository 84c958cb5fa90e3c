import type { MarketRow, Outcome, PositionRow, TradeRow, TradeSide } from '../../db/schema.ts';
import type { Trx } from '../../db/transaction.ts';
import { ApiError } from '../../lib/errors.ts';
import { type LmsrState, price, priceYes, proceedsForShares, sharesForMoney, withShares } from './lmsr.ts';
import { CENTS_PER_UNIT, floorCents, floorMicros, MICROS_PER_SHARE } from './money.ts';
import type { TradingRepository } from './trading.repository.ts';

export interface Order {
  outcome: Outcome;
  side: TradeSide;
  /** buy: cents to spend; sell: micro-shares to sell. */
  quantity: number;
  /** Slippage guard on the traded outcome's price after the trade. */
  maxProbability?: number | undefined;
  minProbability?: number | undefined;
}

export interface Execution {
  trade: TradeRow;
  position: PositionRow;
  market: MarketRow;
  balance: number;
}

// Prices stay strictly inside (0, 1) as the schema requires, however lopsided the book.
const clampProbability = (p: number) => Math.min(1 - 1e-12, Math.max(1e-12, p));

export function bookState(market: Pick<MarketRow, 'yesShares' | 'noShares' | 'liquidity'>): LmsrState {
  return {
    yes: market.yesShares / MICROS_PER_SHARE,
    no: market.noShares / MICROS_PER_SHARE,
    b: market.liquidity / CENTS_PER_UNIT,
  };
}

/**
 * What `cents` buy of `outcome` from this book, rounded in the maker's favour: the shares (micro),
 * the outcome's price before and after, and the YES probability the market then shows. Pure: the
 * trade below and the sample-data seed price every buy with it.
 */
export function quoteBuy(
  market: Pick<MarketRow, 'yesShares' | 'noShares' | 'liquidity'>,
  outcome: Outcome,
  cents: number,
) {
  const state = bookState(market);
  const shares = floorMicros(sharesForMoney(state, outcome, cents / CENTS_PER_UNIT));
  const after = withShares(state, outcome, shares / MICROS_PER_SHARE);
  return {
    shares,
    before: price(state, outcome),
    after: price(after, outcome),
    probability: clampProbability(priceYes(after)),
  };
}

/**
 * One trade against the LMSR market maker, inside the caller's transaction, with the market and
 * the user's row already locked by it. Checks, prices, then writes ledger line, book, balance
 * and position; any refusal throws before anything is written.
 */
export async function executeTrade(
  repo: TradingRepository,
  trx: Trx,
  market: MarketRow,
  user: { id: string; balance: number },
  order: Order,
): Promise<Execution> {
  const state = bookState(market);
  const before = price(state, order.outcome);
  let shares: number;
  let cents: number;
  let costBasisDelta: number;

  if (order.side === 'buy') {
    cents = order.quantity;
    if (user.balance < cents) {
      throw ApiError.unprocessable(
        `Insufficient balance: this costs ${cents / CENTS_PER_UNIT}, you have ${user.balance / CENTS_PER_UNIT}`,
        'INSUFFICIENT_BALANCE',
      );
    }
    shares = quoteBuy(market, order.outcome, cents).shares;
    if (shares <= 0)
      throw ApiError.unprocessable('Amount is too small to buy any shares', 'AMOUNT_TOO_SMALL');
    costBasisDelta = cents;
  } else {
    shares = order.quantity;
    const position = await repo.findPosition(trx, market.id, user.id, order.outcome);
    const held = position?.shares ?? 0;
    if (!position || held < shares) {
      throw ApiError.unprocessable(
        `Insufficient shares: you hold ${held / MICROS_PER_SHARE} ${order.outcome}`,
        'INSUFFICIENT_SHARES',
      );
    }
    cents = floorCents(proceedsForShares(state, order.outcome, shares / MICROS_PER_SHARE));
    costBasisDelta = -soldCostBasis(position, shares);
  }

  const signed = order.side === 'buy' ? shares : -shares;
  const after = withShares(state, order.outcome, signed / MICROS_PER_SHARE);
  const probabilityAfter = price(after, order.outcome);
  if (order.maxProbability !== undefined && probabilityAfter > order.maxProbability) {
    throw ApiError.conflict(
      `Price moved: ${order.outcome} would be ${probabilityAfter.toFixed(4)} after this trade, above your maxProbability`,
      'SLIPPAGE',
    );
  }
  if (order.minProbability !== undefined && probabilityAfter < order.minProbability) {
    throw ApiError.conflict(
      `Price moved: ${order.outcome} would be ${probabilityAfter.toFixed(4)} after this trade, below your minProbability`,
      'SLIPPAGE',
    );
  }

  const moneyIn = order.side === 'buy' ? cents : -cents;
  const trade = await repo.insertTrade(trx, {
    marketId: market.id,
    userId: user.id,
    outcome: order.outcome,
    side: order.side,
    amount: cents,
    shares,
    probabilityBefore: before,
    probabilityAfter,
  });
  const updated = await repo.updateMarketBook(trx, market.id, {
    yesShares: market.yesShares + (order.outcome === 'YES' ? signed : 0),
    noShares: market.noShares + (order.outcome === 'NO' ? signed : 0),
    probability: clampProbability(priceYes(after)),
    escrow: market.escrow + moneyIn,
    volumeDelta: cents,
  });
  const balance = await repo.addToBalance(trx, user.id, -moneyIn);
  const position = await repo.applyToPosition(
    trx,
    { marketId: market.id, userId: user.id, outcome: order.outcome },
    { shares: signed, costBasis: costBasisDelta, netSpent: moneyIn },
  );
  return { trade, position, market: updated, balance };
}

/** The part of the cost basis that leaves with `sold` shares (proportional, exact integer math). */
function soldCostBasis(position: PositionRow, sold: number): number {
  if (sold >= position.shares) return position.costBasis;
  return Number((BigInt(position.costBasis) * BigInt(sold)) / BigInt(position.shares));
}
