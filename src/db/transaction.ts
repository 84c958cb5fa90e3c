import type { Kysely, Transaction } from 'kysely';
import { isRetryableTransactionError } from './errors.ts';
import type { DB } from './schema.ts';

export type Trx = Transaction<DB>;

/**
 * Runs `work` in one transaction, again (a bounded number of times, with a short jittered pause)
 * when PostgreSQL aborted it for a deadlock or serialization failure. Work must be repeatable:
 * everything it changes is rolled back before a retry.
 */
export async function inTransaction<T>(
  db: Kysely<DB>,
  work: (trx: Trx) => Promise<T>,
  attempts = 4,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(work);
    } catch (error) {
      if (attempt >= attempts || !isRetryableTransactionError(error)) throw error;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt));
    }
  }
}
