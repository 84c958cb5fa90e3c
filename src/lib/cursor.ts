import { z } from 'zod';
import { ApiError } from './errors.ts';
import { uuid } from './http-schemas.ts';

/** An opaque keyset position: the sort it belongs to, the last row's sort value and id. */
export interface Cursor {
  sort: string;
  order: 'asc' | 'desc';
  value: string | number;
  id: string;
}

/** What the sort column holds, so a tampered cursor is a 400 rather than a database error. */
export type CursorValueKind = 'integer' | 'number' | 'timestamp' | 'string';

/**
 * A timestamp exactly as `toISOString()` wrote it from a row, years 1–9999: the cursor came
 * from us, so anything else (extended years PostgreSQL cannot store, year 0, other formats) is
 * tampering.
 */
const timestamp = z.string().refine((v) => {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(v) || v.startsWith('0000')) return false;
  const date = new Date(v);
  return !Number.isNaN(date.getTime()) && date.toISOString() === v;
});

/** Each sort column's values as that column can hold them (bigint cents, double, timestamptz, text). */
const VALUE_SCHEMAS: Record<CursorValueKind, z.ZodType<string | number>> = {
  integer: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  number: z.number(), // Zod refuses NaN and ±Infinity
  timestamp,
  string: z
    .string()
    .max(200)
    .refine((v) => !v.includes('\u0000')),
};

const parts = z.tuple([z.string(), z.enum(['asc', 'desc']), z.union([z.string(), z.number()]), uuid]);

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.sort, cursor.order, cursor.value, cursor.id])).toString(
    'base64url',
  );
}

/** A cursor from a query string, checked part by part against what the keyset query will bind. */
export function decodeCursor(
  raw: string,
  expected: { sort: string; order: 'asc' | 'desc'; kind: CursorValueKind },
): Cursor {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw ApiError.badRequest('Invalid cursor');
  }
  const parsed = parts.safeParse(json);
  if (!parsed.success) throw ApiError.badRequest('Invalid cursor');
  const [sort, order, value, id] = parsed.data;
  if (sort !== expected.sort || order !== expected.order) {
    throw ApiError.badRequest('This cursor belongs to another sort or order; start again without it');
  }
  if (!VALUE_SCHEMAS[expected.kind].safeParse(value).success) throw ApiError.badRequest('Invalid cursor');
  return { sort, order, value, id };
}
