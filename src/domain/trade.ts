import { AmountTooSmall, InsufficientBalance, InsufficientShares, Slippage } from './domain-errors.ts';
import { price, prices, proceedsForShares, sharesForMoney, withShares } from './lmsr.ts';
import {
  CENTS_PER_UNIT,
  type Cents,
  floorCents,
  floorMicros,
  MICROS_PER_SHARE,
  type Micros,
} from './money.ts';

/** What the market maker holds: outstanding shares per outcome and its liquidity b. */
export interface Book {
  /** The outcomes' names, in order (for messages: "you hold 3 YES"). */
  outcomes: readonly string[];
  shares: readonly Micros[];
  liquidity: Cents;
}

/** One trader's side of a trade: their balance and, for a sell, their holding of the traded outcome. */
export interface Trader {
  balance: Cents;
  position?: { shares: Micros; costBasis: Cents } | undefined;
}

export type Side = 'buy' | 'sell';

export interface TradeOrder {
  /** Index into the book's outcomes. */
  outcome: number;
  side: Side;
  /** buy: cents to spend; sell: micro-shares to sell. */
  quantity: number;
  /** Slippage guard on the traded outcome's price after the trade. */
  maxProbability?: number | undefined;
  minProbability?: number | undefined;
}

/** What a trade does, in the ledger's integer units. */
export interface TradeResult {
  /** Micro-shares bought or sold. */
  shares: Micros;
  /** Cents paid (buy) or received (sell). */
  cents: Cents;
  /** The traded outcome's price before and after. */
  probabilityBefore: number;
  probabilityAfter: number;
  /** Every outcome's price after, kept strictly inside (0, 1) as the API promises. */
  pricesAfter: number[];
  /** The slippage guard's refusal, or undefined when it lets the order through (or none was set). */
  slippage: string | undefined;
}

/** What the trade changes, each a signed amount to add: the book, the maker's money, the trader's. */
export interface TradeDeltas {
  outcome: number;
  /** Shares into the book (and the trader's position): positive for a buy, negative for a sell. */
  shares: Micros;
  /** Money into the maker's escrow: the trader's balance moves by its opposite. */
  escrow: Cents;
  /** Money traded, whichever way. */
  volume: Cents;
  position: { shares: Micros; costBasis: Cents; netSpent: Cents };
}

export interface PlannedTrade {
  result: TradeResult;
  deltas: TradeDeltas;
}

// Prices stay strictly inside (0, 1) as the schema requires, however lopsided the book.
export const clampProbability = (p: number) => Math.min(1 - 1e-12, Math.max(1e-12, p));

const floatShares = (book: Pick<Book, 'shares'>) => book.shares.map((s) => s / MICROS_PER_SHARE);
const floatB = (book: Pick<Book, 'liquidity'>) => book.liquidity / CENTS_PER_UNIT;

/** The micro-shares of `outcome` that `cents` buy, rounded down (the maker's favour). */
export function sharesBought(book: Omit<Book, 'outcomes'>, outcome: number, cents: Cents): Micros {
  return floorMicros(sharesForMoney(floatShares(book), floatB(book), outcome, cents / CENTS_PER_UNIT));
}

/** The cents that selling `micros` of `outcome` back pays, rounded down (the maker's favour). */
export function saleProceeds(book: Omit<Book, 'outcomes'>, outcome: number, micros: Micros): Cents {
  return floorCents(proceedsForShares(floatShares(book), floatB(book), outcome, micros / MICROS_PER_SHARE));
}

/**
 * What `cents` buy of `outcome`, rounded in the maker's favour: the micro-shares, the outcome's
 * price before and after, and every outcome's price after. planTrade prices every buy with it, and
 * so do the sample-data seed and the bench's traded history.
 */
export function quoteBuy(book: Omit<Book, 'outcomes'>, outcome: number, cents: Cents) {
  const q = floatShares(book);
  const b = floatB(book);
  const shares = sharesBought(book, outcome, cents);
  const after = withShares(q, outcome, shares / MICROS_PER_SHARE);
  return {
    shares,
    before: price(q, b, outcome),
    after: price(after, b, outcome),
    pricesAfter: prices(after, b).map(clampProbability),
  };
}

/**
 * Prices `order` against `book` for `trader`. Pure, and the one pricing of an order: a trade
 * executes what it returns and a quote shows it, so a quote and the same trade right after give
 * the same numbers. Refusals the trade and the quote share (balance, shares, too small) throw
 * domain errors; the slippage guard's verdict is returned in `result.slippage`.
 */
export function planTrade(book: Book, trader: Trader, order: TradeOrder): PlannedTrade {
  const q = floatShares(book);
  const b = floatB(book);
  const i = order.outcome;
  let shares: Micros;
  let cents: Cents;
  let costBasis: Cents;

  if (order.side === 'buy') {
    cents = order.quantity;
    if (trader.balance < cents) throw InsufficientBalance.forTrade(cents, trader.balance);
    shares = sharesBought(book, i, cents);
    if (shares <= 0) throw new AmountTooSmall();
    costBasis = cents;
  } else {
    shares = order.quantity;
    const { position } = trader;
    const held = position?.shares ?? 0;
    if (!position || held < shares) throw new InsufficientShares(held, book.outcomes[i]!);
    cents = saleProceeds(book, i, shares);
    costBasis = -soldCostBasis(position, shares);
  }

  const signed = order.side === 'buy' ? shares : -shares;
  const after = withShares(q, i, signed / MICROS_PER_SHARE);
  const probabilityAfter = price(after, b, i);
  const name = book.outcomes[i]!;
  let slippage: string | undefined;
  if (order.maxProbability !== undefined && probabilityAfter > order.maxProbability) {
    slippage = `Price moved: ${name} would be ${probabilityAfter.toFixed(4)} after this trade, above your maxProbability`;
  } else if (order.minProbability !== undefined && probabilityAfter < order.minProbability) {
    slippage = `Price moved: ${name} would be ${probabilityAfter.toFixed(4)} after this trade, below your minProbability`;
  }
  const moneyIn = order.side === 'buy' ? cents : -cents;
  return {
    result: {
      shares,
      cents,
      probabilityBefore: price(q, b, i),
      probabilityAfter,
      pricesAfter: prices(after, b).map(clampProbability),
      slippage,
    },
    deltas: {
      outcome: i,
      shares: signed,
      escrow: moneyIn,
      volume: cents,
      position: { shares: signed, costBasis, netSpent: moneyIn },
    },
  };
}

/** A trade as it executes: planTrade, with the slippage guard's refusal thrown. */
export function executeTrade(book: Book, trader: Trader, order: TradeOrder): PlannedTrade {
  const planned = planTrade(book, trader, order);
  if (planned.result.slippage) throw new Slippage(planned.result.slippage);
  return planned;
}

/** The book after a trade's deltas. */
export function applyToBook<B extends Pick<Book, 'shares'>>(book: B, deltas: TradeDeltas): B {
  return { ...book, shares: book.shares.map((s, j) => (j === deltas.outcome ? s + deltas.shares : s)) };
}

/** The part of the cost basis that leaves with `sold` shares (proportional, exact integer math). */
function soldCostBasis(position: { shares: Micros; costBasis: Cents }, sold: Micros): Cents {
  if (sold >= position.shares) return position.costBasis;
  return Number((BigInt(position.costBasis) * BigInt(sold)) / BigInt(position.shares));
}
