/** PostgreSQL error codes we act on, from node-postgres and PGlite errors alike. */
export function pgErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (pgErrorCode(error) !== '23505') return false;
  if (!constraint) return true;
  const e = error as { constraint?: string; message?: string };
  return e.constraint === constraint || (e.message ?? '').includes(constraint);
}

/** Serialization failure or deadlock: the transaction may simply be run again. */
export function isRetryableTransactionError(error: unknown): boolean {
  const code = pgErrorCode(error);
  return code === '40001' || code === '40P01';
}

/**
 * The database cannot be reached, is restarting, or dropped the connection: a 503, not a 500.
 * A connection lost inside a transaction reaches the caller as the failed ROLLBACK's error, not
 * the statement's: Kysely rolls back on the dead client and rethrows what that threw, which
 * node-postgres words as "… is not queryable" (the client saw its connection end).
 */
export function isConnectionError(error: unknown): boolean {
  const code = pgErrorCode(error) ?? (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^(08|57P0)/.test(code)) return true;
  const message = (error as { message?: unknown } | null)?.message;
  return (
    (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(code)) ||
    (typeof message === 'string' &&
      /timeout exceeded when trying to connect|Connection terminated|connection timeout|is not queryable|connection has been discarded/i.test(
        message,
      ))
  );
}

/**
 * CHECK constraints on columns a client writes directly: when one fails, validation let through
 * a value the table refuses, and the client's request is at fault. Checks on money and state
 * (balances, escrow, probability) are never input: they stay 500s, logged as errors.
 */
const INPUT_CHECKS = new Set([
  'users_email_check',
  'users_name_check',
  'markets_slug_check',
  'markets_name_check',
  'markets_description_check',
  'markets_liquidity_check',
  'trades_shares_check',
  'api_keys_name_check',
  'comments_text_check',
]);

/**
 * The database refused a value as data: SQLSTATE class 22 (bad text representation, datetime
 * or numeric out of range, NUL in text…) or a CHECK on a client-written column. A 400.
 */
export function isDataRefusal(error: unknown): boolean {
  const code = pgErrorCode(error);
  if (code?.startsWith('22')) return true;
  if (code !== '23514') return false;
  const e = error as { constraint?: string; message?: string };
  const constraint = e.constraint ?? /constraint "([^"]+)"/.exec(e.message ?? '')?.[1];
  return constraint !== undefined && INPUT_CHECKS.has(constraint);
}
