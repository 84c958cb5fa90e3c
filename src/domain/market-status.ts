import { MarketNotTradable } from './domain-errors.ts';

export type MarketStatus = 'active' | 'closed' | 'resolved' | 'cancelled';

/**
 * THE close-time rule: an active market whose close time has passed is closed, whatever its row
 * says until the close sweep (close-announcer.ts) records it. Everything in TypeScript that asks
 * "what is this market's status" asks here; the SQL list filters (markets.repository applyFilters)
 * are the same rule for the database's clock.
 */
export function effectiveStatus(status: MarketStatus, closesAt: Date, now = Date.now()): MarketStatus {
  return status === 'active' && isPastClose(closesAt, now) ? 'closed' : status;
}

export const isPastClose = (closesAt: Date, now = Date.now()) => closesAt.getTime() <= now;

/** When the status users see changes by itself: an active market's close time; else never. */
export function statusChangesAt(status: MarketStatus | undefined, closesAt: Date | undefined): number {
  return status === 'active' && closesAt ? closesAt.getTime() : Infinity;
}

/** Resolved and cancelled markets are final: their money has been paid out. */
export const isSettled = (status: MarketStatus) => status === 'resolved' || status === 'cancelled';

/** Refuses a trade (or a quote) on a market that is not active now. */
export function assertTradable(market: { status: MarketStatus; closesAt: Date }, now = Date.now()): void {
  const status = effectiveStatus(market.status, market.closesAt, now);
  if (status !== 'active') throw new MarketNotTradable(status);
}
