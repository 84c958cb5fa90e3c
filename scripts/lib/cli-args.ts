import { z } from 'zod';

/** A `--name value` command-line argument holding a whole number in [min, max]. */
export const wholeNumberArg = (min: number, max: number) =>
  z
    .string({ error: 'needs a value' })
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min).max(max));
