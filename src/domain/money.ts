/**
 * Fixed-point units of the ledger: money in integer cents, shares in integer micro-shares. The API
 * speaks decimal units (money) and shares; amounts are parsed into these integers once, by the
 * request schemas, and turned back once, by the response DTOs. Every conversion from the float
 * LMSR rounds in the market maker's favour: a payer pays the ceiling, a payee receives the floor.
 * That keeps each market's escrow ≥ C(q) − C(0) + subsidy ≥ what it can owe.
 */
export const CENTS_PER_UNIT = 100;
export const MICROS_PER_SHARE = 1_000_000;

/** Integer cents (1/100 of a unit of play money). */
export type Cents = number;
/** Integer micro-shares (1/1 000 000 of a share, which pays 1 unit if its outcome wins). */
export type Micros = number;

/** Cents → the API's decimal units. */
export const toUnits = (cents: Cents) => cents / CENTS_PER_UNIT;
/** Micro-shares → the API's decimal shares. */
export const toShares = (micros: Micros) => micros / MICROS_PER_SHARE;

/** Float units the maker receives, as cents: rounded up. */
export const ceilCents = (units: number): Cents => Math.ceil(units * CENTS_PER_UNIT);
/** Float units the maker pays, as cents: rounded down. */
export const floorCents = (units: number): Cents => Math.floor(units * CENTS_PER_UNIT);
/** Float shares the maker issues, as micro-shares: rounded down. */
export const floorMicros = (shares: number): Micros => Math.floor(shares * MICROS_PER_SHARE);

/** Cents a winning position receives: 1 unit per share, fractions of a cent kept by the maker. */
export const payoutCents = (micros: Micros): Cents =>
  Math.floor(micros / (MICROS_PER_SHARE / CENTS_PER_UNIT));

/** A configured amount in units (SIGNUP_GRANT, DEFAULT_LIQUIDITY) as cents. */
export const centsOf = (units: number): Cents => Math.round(units * CENTS_PER_UNIT);

/** Exact decimal input → integer count of `1/scale`, or undefined when it has more decimals than allowed. */
export function toFixed(value: number, scale: number): number | undefined {
  const scaled = Math.round(value * scale);
  return Math.abs(scaled - value * scale) < 1e-6 ? scaled : undefined;
}

/** The smallest amount of each kind, as a client writes it, and its decimals. */
const SMALLEST: Record<number, { text: string; decimals: number }> = {
  [CENTS_PER_UNIT]: { text: '0.01', decimals: 2 },
  [MICROS_PER_SHARE]: { text: '0.000001', decimals: 6 },
};

/**
 * A positive decimal amount as the integer count of `1/scale` the ledger stores, or why not: too
 * many decimals, or positive but below the smallest unit (1e-13 and 5e-324 pass a decimals check
 * and would round to 0, which the ledger's CHECKs refuse).
 */
export function parseFixed(value: number, scale: number): { units: number } | { message: string } {
  const units = toFixed(value, scale);
  if (units === undefined) return { message: `at most ${SMALLEST[scale]!.decimals} decimals` };
  if (units <= 0) return { message: `must be at least ${SMALLEST[scale]!.text}` };
  return { units };
}

/** Money written as digits with at most 2 decimals ("12.5") as cents, exactly (no float on the way). */
export function centsOfDigits(text: string): Cents {
  const [whole, fraction = ''] = text.split('.');
  return Number(whole) * CENTS_PER_UNIT + Number(fraction.padEnd(2, '0'));
}
