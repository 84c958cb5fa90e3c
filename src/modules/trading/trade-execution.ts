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

/** What an order does to this book and this holder, before anything is written. */
export interface TradePlan {
  /** Micro-shares bought or sold. */
  shares: number;
  /** Cents paid (buy) or received (sell). */
  cents: number;
  /** The traded outcome's price before and after. */
  probabilityBefore: number;
  probabilityAfter: number;
  /** The YES probability the market shows after. */
  marketProbability: number;
  /** Shares and money into the book: positive for a buy, negative for a sell. */
  signedShares: number;
  moneyIn: number;
  costBasisDelta: number;
  /** The slippage guard's refusal, or undefined when it lets the order through (or none was set). */
  slippage: string | undefined;
}

/**
 * Prices `order` against `market` for a holder with `balance` cents and, for a sell, `position`
 * of the traded outcome. Pure, and the one pricing of an order: the trade executes what it returns,
 * a quote shows it, so a quote and the same trade right after give the same numbers. Refusals the
 * trade and the quote share (422: balance, shares, too small) throw; the guard's verdict is returned.
 */
export function planTrade(
  market: Pick<MarketRow, 'yesShares' | 'noShares' | 'liquidity'>,
  holder: { balance: number; position: PositionRow | undefined },
  order: Order,
): TradePlan {
  const state = bookState(market);
  let shares: number;
  let cents: number;
  let costBasisDelta: number;

  if (order.side === 'buy') {
    cents = order.quantity;
    if (holder.balance < cents) {
      throw ApiError.unprocessable(
        `Insufficient balance: this costs ${cents / CENTS_PER_UNIT}, you have ${holder.balance / CENTS_PER_UNIT}`,
        'INSUFFICIENT_BALANCE',
      );
    }
    shares = quoteBuy(market, order.outcome, cents).shares;
    if (shares <= 0)
      throw ApiError.unprocessable('Amount is too small to buy any shares', 'AMOUNT_TOO_SMALL');
    costBasisDelta = cents;
  } else {
    shares = order.quantity;
    const { position } = holder;
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

  const signedShares = order.side === 'buy' ? shares : -shares;
  const after = withShares(state, order.outcome, signedShares / MICROS_PER_SHARE);
  const probabilityAfter = price(after, order.outcome);
  let slippage: string | undefined;
  if (order.maxProbability !== undefined && probabilityAfter > order.maxProbability) {
    slippage = `Price moved: ${order.outcome} would be ${probabilityAfter.toFixed(4)} after this trade, above your maxProbability`;
  } else if (order.minProbability !== undefined && probabilityAfter < order.minProbability) {
    slippage = `Price moved: ${order.outcome} would be ${probabilityAfter.toFixed(4)} after this trade, below your minProbability`;
  }
  return {
    shares,
    cents,
    probabilityBefore: price(state, order.outcome),
    probabilityAfter,
    marketProbability: clampProbability(priceYes(after)),
    signedShares,
    moneyIn: order.side === 'buy' ? cents : -cents,
    costBasisDelta,
    slippage,
  };
}

/**
 * One trade against the LMSR market maker, inside the caller's transaction, with the market and
 * the user's row already locked by it. Prices with planTrade, then writes ledger line, book,
 * balance and position; any refusal throws before anything is written.
 */
export async function executeTrade(
  repo: TradingRepository,
  trx: Trx,
  market: MarketRow,
  user: { id: string; balance: number },
  order: Order,
): Promise<Execution> {
  const position =
    order.side === 'sell' ? await repo.findPosition(trx, market.id, user.id, order.outcome) : undefined;
  const plan = planTrade(market, { balance: user.balance, position }, order);
  if (plan.slippage) throw ApiError.conflict(plan.slippage, 'SLIPPAGE');

  const signed = plan.signedShares;
  const trade = await repo.insertTrade(trx, {
    marketId: market.id,
    userId: user.id,
    outcome: order.outcome,
    side: order.side,
    amount: plan.cents,
    shares: plan.shares,
    probabilityBefore: plan.probabilityBefore,
    probabilityAfter: plan.probabilityAfter,
  });
  const updated = await repo.updateMarketBook(trx, market.id, {
    yesShares: market.yesShares + (order.outcome === 'YES' ? signed : 0),
    noShares: market.noShares + (order.outcome === 'NO' ? signed : 0),
    probability: plan.marketProbability,
    escrow: market.escrow + plan.moneyIn,
    volumeDelta: plan.cents,
  });
  const balance = await repo.addToBalance(trx, user.id, -plan.moneyIn);
  const newPosition = await repo.applyToPosition(
    trx,
    { marketId: market.id, userId: user.id, outcome: order.outcome },
    { shares: signed, costBasis: plan.costBasisDelta, netSpent: plan.moneyIn },
  );
  return { trade, position: newPosition, market: updated, balance };
}

/** The part of the cost basis that leaves with `sold` shares (proportional, exact integer math). */
function soldCostBasis(position: PositionRow, sold: number): number {
  if (sold >= position.shares) return position.costBasis;
  return Number((BigInt(position.costBasis) * BigInt(sold)) / BigInt(position.shares));
}
