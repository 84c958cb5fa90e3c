import { z } from 'zod';
import { CENTS_PER_UNIT, centsOfDigits, parseFixed } from '../../domain/money.ts';

/** Money in units with at most 2 decimals, parsed at the edge into integer cents (> 0). */
export const moneyCents = (max: number) =>
  z
    .number()
    .positive()
    .max(max)
    .transform((value, ctx) => {
      const parsed = parseFixed(value, CENTS_PER_UNIT);
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
  .transform(centsOfDigits);
