import { ApiError } from './errors.ts';

/** An opaque keyset position: the sort it belongs to, the last row's sort value and id. */
export interface Cursor {
  sort: string;
  order: 'asc' | 'desc';
  value: string | number;
  id: string;
}

/** What the sort column holds, so a tampered cursor is a 400 rather than a database error. */
export type CursorValueKind = 'integer' | 'number' | 'timestamp' | 'string';

const VALUE_CHECKS: Record<CursorValueKind, (value: unknown) => boolean> = {
  integer: (v) => Number.isSafeInteger(v),
  number: (v) => typeof v === 'number' && Number.isFinite(v),
  timestamp: (v) => typeof v === 'string' && !Number.isNaN(Date.parse(v)),
  string: (v) => typeof v === 'string',
};

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.sort, cursor.order, cursor.value, cursor.id])).toString(
    'base64url',
  );
}

export function decodeCursor(
  raw: string,
  expected: { sort: string; order: 'asc' | 'desc'; kind: CursorValueKind },
): Cursor {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw ApiError.badRequest('Invalid cursor');
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 4 ||
    typeof parsed[0] !== 'string' ||
    (parsed[1] !== 'asc' && parsed[1] !== 'desc') ||
    (typeof parsed[2] !== 'string' && typeof parsed[2] !== 'number') ||
    typeof parsed[3] !== 'string' ||
    !/^[0-9a-f-]{36}$/i.test(parsed[3])
  ) {
    throw ApiError.badRequest('Invalid cursor');
  }
  const [sort, order, value, id] = parsed as [string, 'asc' | 'desc', string | number, string];
  if (sort !== expected.sort || order !== expected.order) {
    throw ApiError.badRequest('This cursor belongs to another sort or order; start again without it');
  }
  if (!VALUE_CHECKS[expected.kind](value)) throw ApiError.badRequest('Invalid cursor');
  return { sort, order, value, id };
}
