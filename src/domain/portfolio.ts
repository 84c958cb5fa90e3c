import type { Cents, Micros } from './money.ts';
import { payoutCents } from './money.ts';
import { type Book, saleProceeds } from './trade.ts';

/**
 * Profit and loss of positions, in the ledger's integer units. Pure: the leaderboard module reads
 * the rows and writes the results. With cost_basis = cents paid for the shares still held and
 * net_spent = cents paid − cents received:
 *   realised   = cost_basis − net_spent       (what sells returned above the basis they took away)
 *   unrealised = value − cost_basis           (what selling the rest now would add)
 *   total      = value − net_spent
 * Settled markets have no unrealised part: their value is what settlement paid.
 */
export interface Holding {
  shares: Micros;
  costBasis: Cents;
  netSpent: Cents;
}

export type Settlement =
  | { state: 'open'; book: Omit<Book, 'outcomes'>; outcome: number }
  | { state: 'resolved'; won: boolean }
  | { state: 'cancelled' };

export interface Valuation {
  /** Cents: what selling now would return (open) or what settlement paid (settled). */
  value: Cents;
  realised: Cents;
  unrealised: Cents;
  /** realised + unrealised. */
  profit: Cents;
}

/**
 * What a holding is worth. Open (active or closed, not settled): the LMSR sale of every share
 * now, rounded as a sell rounds, so it equals what POST /trades with side=sell would pay.
 * Resolved: 1 unit per winning share (the payout). Cancelled: the refund of net spend (a holding
 * sold at a profit keeps it and is refunded nothing); pro-rata refunds of an escrow too small to
 * refund everyone cannot happen while rounding favours the maker, and are not modelled.
 */
export function valueHolding(holding: Holding, settlement: Settlement): Valuation {
  if (settlement.state === 'open') {
    const value = holding.shares > 0 ? saleProceeds(settlement.book, settlement.outcome, holding.shares) : 0;
    return split(holding, value, false);
  }
  const value =
    settlement.state === 'resolved'
      ? settlement.won
        ? payoutCents(holding.shares)
        : 0
      : Math.max(0, holding.netSpent);
  return split(holding, value, true);
}

function split(holding: Holding, value: Cents, settled: boolean): Valuation {
  const profit = value - holding.netSpent;
  if (settled) return { value, realised: profit, unrealised: 0, profit };
  const realised = holding.costBasis - holding.netSpent;
  return { value, realised, unrealised: value - holding.costBasis, profit };
}

export type Period = 'day' | 'week' | 'month' | 'all';
export const PERIODS = ['day', 'week', 'month', 'all'] as const satisfies readonly Period[];

const PERIOD_DAYS: Record<Exclude<Period, 'all'>, number> = { day: 1, week: 7, month: 30 };

/** A UTC date as YYYY-MM-DD. */
export const utcDay = (at: Date) => at.toISOString().slice(0, 10);

/**
 * The first UTC day a period covers, or undefined for all time: day = today, week = the last 7
 * days including today, month = the last 30.
 */
export function periodStartDay(period: Period, now: Date): string | undefined {
  if (period === 'all') return undefined;
  const start = new Date(now.getTime());
  start.setUTCDate(start.getUTCDate() - (PERIOD_DAYS[period] - 1));
  return utcDay(start);
}
