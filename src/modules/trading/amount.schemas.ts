import { z } from 'zod';
import { CENTS_PER_UNIT, MICROS_PER_SHARE, toFixed } from './money.ts';

/** The smallest amount of each kind, as a client writes it. */
const SMALLEST: Record<number, string> = { [CENTS_PER_UNIT]: '0.01', [MICROS_PER_SHARE]: '0.000001' };
const DECIMALS: Record<number, number> = { [CENTS_PER_UNIT]: 2, [MICROS_PER_SHARE]: 6 };

/**
 * A decimal amount as the integer count of `1/scale` the ledger stores, or the issue that says
 * why not: too many decimals, or positive but below the smallest unit (1e-13 and 5e-324 pass a
 * decimals check and would round to 0, which the ledger's CHECKs refuse).
 */
export function fixedPointIssue(value: number, scale: number): { units: number } | { message: string } {
  const units = toFixed(value, scale);
  if (units === undefined) return { message: `at most ${DECIMALS[scale]} decimals` };
  if (units <= 0) return { message: `must be at least ${SMALLEST[scale]}` };
  return { units };
}

/** Money in units with at most 2 decimals, parsed at the edge into integer cents (> 0). */
export const moneyCents = (max: number) =>
  z
    .number()
    .positive()
    .max(max)
    .transform((value, ctx) => {
      const parsed = fixedPointIssue(value, CENTS_PER_UNIT);
      if ('units' in parsed) return parsed.units;
      ctx.addIssue({ code: 'custom', message: parsed.message });
      return z.NEVER;
    });

/**
 * A money bound from a query string ("12.5" units) as integer cents (≥ 0). Written as digits, at
 * most 2 decimals: what `Number()` would also take ("", " ", "1e3", "0x10", "Infinity") is a 400.
 */
export const moneyCentsQuery = z
  .string()
  .regex(/^\d{1,13}(\.\d{1,2})?$/, 'an amount in units: digits, at most 2 decimals')
  .transform((s) => {
    const [whole, fraction = ''] = s.split('.');
    return Number(whole) * CENTS_PER_UNIT + Number(fraction.padEnd(2, '0'));
  });
