import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { Trx } from '../../db/transaction.ts';

export type Claim =
  | { kind: 'claimed' }
  | { kind: 'replay'; statusCode: number; response: unknown }
  | { kind: 'mismatch' };

/**
 * Idempotency keys live in the same transaction as the work they guard: the key row is inserted
 * once the market and the user are locked (the lock order in ledger.repository.ts; a concurrent
 * request with the same key waits on them), the answer is stored before commit, and a failed
 * attempt rolls the key back so the client may retry.
 */
export const idempotencyRepository = {
  async claim(trx: Trx, userId: string, key: string, requestHash: string): Promise<Claim> {
    const inserted = await trx
      .insertInto('idempotencyKeys')
      .values({ userId, key, requestHash, statusCode: null, response: null })
      .onConflict((oc) => oc.columns(['userId', 'key']).doNothing())
      .returning('key')
      .executeTakeFirst();
    if (inserted) return { kind: 'claimed' };
    const existing = await trx
      .selectFrom('idempotencyKeys')
      .select(['requestHash', 'statusCode', 'response'])
      .where('userId', '=', userId)
      .where('key', '=', key)
      .executeTakeFirstOrThrow();
    if (existing.requestHash !== requestHash) return { kind: 'mismatch' };
    return { kind: 'replay', statusCode: existing.statusCode ?? 201, response: existing.response };
  },

  async complete(
    trx: Trx,
    userId: string,
    key: string,
    statusCode: number,
    response: unknown,
  ): Promise<void> {
    await trx
      .updateTable('idempotencyKeys')
      .set({ statusCode, response: JSON.stringify(response) })
      .where('userId', '=', userId)
      .where('key', '=', key)
      .execute();
  },

  /** Deletes keys older than `ttlHours` (their retries are over); returns how many. */
  async pruneOlderThan(db: Kysely<DB>, ttlHours: number): Promise<number> {
    const result = await db
      .deleteFrom('idempotencyKeys')
      .where('createdAt', '<', sql<Date>`now() - make_interval(hours => ${ttlHours})`)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  },
};
