/**
 * Fixed-point units of the ledger: money in integer cents, shares in integer micro-shares.
 * Every conversion from the float LMSR rounds in the market maker's favour: a payer pays the
 * ceiling, a payee receives the floor. That keeps each market's escrow ≥ C(q) ≥ what it owes.
 */
export const CENTS_PER_UNIT = 100;
export const MICROS_PER_SHARE = 1_000_000;

export const toUnits = (cents: number) => cents / CENTS_PER_UNIT;
export const toShares = (micros: number) => micros / MICROS_PER_SHARE;

export const ceilCents = (units: number) => Math.ceil(units * CENTS_PER_UNIT);
export const floorCents = (units: number) => Math.floor(units * CENTS_PER_UNIT);
export const floorMicros = (shares: number) => Math.floor(shares * MICROS_PER_SHARE);

/** Cents a winning position receives: 1 unit per share, fractions of a cent kept by the maker. */
export const payoutCents = (micros: number) => Math.floor(micros / (MICROS_PER_SHARE / CENTS_PER_UNIT));

/** Exact decimal input → integer count of `1/scale`, or undefined when it has more decimals than allowed. */
export function toFixed(value: number, scale: number): number | undefined {
  const scaled = Math.round(value * scale);
  return Math.abs(scaled - value * scale) < 1e-6 ? scaled : undefined;
}
