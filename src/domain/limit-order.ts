import { DomainError } from './domain-errors.ts';
import { cost as lmsrCost, price } from './lmsr.ts';
import { CENTS_PER_UNIT, type Cents, MICROS_PER_SHARE, type Micros } from './money.ts';
import { type Book, quoteBuy, sharesBought } from './trade.ts';

/**
 * Resting limit orders against the LMSR market maker, pure. An order buys (or sells) one answer
 * while that answer's price is below (above) its limit, and never past it: it trades with the
 * maker up to the limit and rests with what is left. There is no matching of orders against each
 * other; a trade that moves the price through a resting order's limit lets that order trade with
 * the maker again, back to its limit.
 *
 * MATCHING RULE (README "Limit orders"): after every trade, the market's crossed orders (a buy whose
 * limit is above its answer's price, a sell whose limit is below it) fill one at a time, the one
 * crossed the most first (a buy's limit − price, a sell's price − limit); at one price level the
 * oldest first (created, then id). Each fill trades as much as brings the price to the order's
 * limit (or all the order has left) and then the ranking is read again from the new price; at most
 * ORDER_FILLS_PER_TRADE fills follow one trade.
 */

/** The price grid: limits are thousandths, 0.001 … 0.999. */
export const LIMIT_SCALE = 1000;

export type LimitSide = 'buy' | 'sell';

/** What the rules need of a resting order. */
export interface RestingOrder {
  id: string;
  answerIndex: number;
  side: LimitSide;
  /** Limit probability in thousandths. */
  limitMilli: number;
  /** buy: cents left to spend; sell: micro-shares left to sell. */
  remaining: number;
  createdAt: Date;
}

/** A limit probability on the grid as thousandths, or undefined when it is off it (≤ 0, ≥ 1, > 3 decimals). */
export function limitMilliOf(probability: number): number | undefined {
  const scaled = Math.round(probability * LIMIT_SCALE);
  if (Math.abs(scaled - probability * LIMIT_SCALE) > 1e-6) return undefined;
  return scaled >= 1 && scaled < LIMIT_SCALE ? scaled : undefined;
}

const floatShares = (book: Pick<Book, 'shares'>) => book.shares.map((s) => s / MICROS_PER_SHARE);
const floatB = (book: Pick<Book, 'liquidity'>) => book.liquidity / CENTS_PER_UNIT;

/** Every answer's price now. */
export const bookPrices = (book: Omit<Book, 'outcomes'>) => {
  const q = floatShares(book);
  return q.map((_, i) => price(q, floatB(book), i));
};

/** How far past its limit the price is (> 0: the order may trade now). */
export function crossing(
  prices: readonly number[],
  order: Pick<RestingOrder, 'answerIndex' | 'side' | 'limitMilli'>,
) {
  const limit = order.limitMilli / LIMIT_SCALE;
  const p = prices[order.answerIndex]!;
  return order.side === 'buy' ? limit - p : p - limit;
}

/**
 * The shares answer i must have for its price to be `limit`, the others unchanged:
 * e^(q_i/b) / (e^(q_i/b) + S) = L  ⇔  q_i = b·(ln(L/(1−L)) + ln S), S = Σ_{j≠i} e^(q_j/b).
 */
function sharesAtLimit(q: readonly number[], b: number, i: number, limit: number): number {
  const others = q.filter((_, j) => j !== i);
  const top = Math.max(...others);
  let sum = 0;
  for (const qj of others) sum += Math.exp((qj - top) / b);
  const lnS = top / b + Math.log(sum);
  return b * (Math.log(limit / (1 - limit)) + lnS);
}

/**
 * What the order can trade with the maker now without crossing its limit: cents to spend (buy) or
 * micro-shares to sell (sell), at most what it has left; 0 when nothing. The float solution is
 * rounded down, then checked against the maker's own rounding (the price after must not pass the
 * limit), stepping down a unit at a time if float error put it one over.
 */
export function fillableNow(book: Omit<Book, 'outcomes'>, order: RestingOrder): number {
  const q = floatShares(book);
  const b = floatB(book);
  const i = order.answerIndex;
  const limit = order.limitMilli / LIMIT_SCALE;
  const target = sharesAtLimit(q, b, i, limit);
  if (order.side === 'buy') {
    if (target <= q[i]!) return 0;
    // The money that brings answer i to `target` shares: C(q') − C(q).
    const qAfter = q.map((qj, j) => (j === i ? target : qj));
    const cost = lmsrCost(qAfter, b) - lmsrCost(q, b);
    let cents: Cents = Math.min(order.remaining, Math.floor(cost * CENTS_PER_UNIT));
    while (cents > 0 && quoteBuy(book, i, cents).after > limit) cents -= 1;
    return cents > 0 && sharesBought(book, i, cents) > 0 ? cents : 0;
  }
  if (target >= q[i]!) return 0;
  let micros: Micros = Math.min(order.remaining, Math.floor((q[i]! - target) * MICROS_PER_SHARE));
  while (micros > 0 && priceAfterSale(book, i, micros) < limit) micros -= 1;
  return micros;
}

function priceAfterSale(book: Omit<Book, 'outcomes'>, i: number, micros: Micros) {
  const q = floatShares(book).map((qj, j) => (j === i ? qj - micros / MICROS_PER_SHARE : qj));
  return price(q, floatB(book), i);
}

/** Crossed orders in the order the matching rule fills them: most crossed first, then oldest. */
export function rankCrossed<O extends RestingOrder>(prices: readonly number[], orders: readonly O[]): O[] {
  return orders
    .map((order) => ({ order, by: crossing(prices, order) }))
    .filter(({ by }) => by > 0)
    .sort(
      (a, b) =>
        b.by - a.by ||
        a.order.createdAt.getTime() - b.order.createdAt.getTime() ||
        (a.order.id < b.order.id ? -1 : a.order.id > b.order.id ? 1 : 0),
    )
    .map(({ order }) => order);
}

/** Whether an order with this expiry may still fill at `now` (an expired order never fills). */
export const isLive = (expiresAt: Date | null, now: Date) => expiresAt === null || expiresAt > now;

/** The cost basis that leaves a position with `moved` of its shares (proportional, exact, rounded down). */
export function costBasisOf(position: { shares: Micros; costBasis: Cents }, moved: Micros): Cents {
  if (moved >= position.shares) return position.costBasis;
  return Number((BigInt(position.costBasis) * BigInt(moved)) / BigInt(position.shares));
}

/** A user already has the most open orders a market allows them (ORDER_MAX_OPEN_PER_MARKET). */
export class TooManyOpenOrders extends DomainError {
  readonly code = 'TOO_MANY_OPEN_ORDERS';
  constructor(max: number) {
    super(`You already have ${max} open orders on this market, the most allowed; cancel one first`);
  }
}

/** Cancelling an order that no longer rests (filled, cancelled or expired). */
export class OrderNotOpen extends DomainError {
  readonly code = 'ORDER_NOT_OPEN';
  constructor(status: string) {
    super(`This order is ${status}; only an open order can be cancelled`);
  }
}
