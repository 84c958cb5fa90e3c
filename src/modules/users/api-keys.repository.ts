import { type Kysely, sql } from 'kysely';
import type { DB, Role } from '../../db/schema.ts';

export type ApiKeyRepository = ReturnType<typeof createApiKeyRepository>;

const LISTED = ['id', 'name', 'prefix', 'scopes', 'expiresAt', 'createdAt', 'lastUsedAt'] as const;

// Writing last_used_at on every request would turn each read into a write; a minute is precise enough.
const LAST_USED_RESOLUTION = sql<Date>`now() - interval '1 minute'`;

export function createApiKeyRepository(db: Kysely<DB>) {
  return {
    /**
     * Inserts the key unless its owner already has `limit` active ones (then undefined). The count
     * and the insert run under the owner's row lock, so parallel creations take turns and the cap
     * holds. FOR NO KEY UPDATE, in the documented lock order (market, then user, then key): it does
     * not block inserts that merely reference the user, and it queues behind a trade's user lock.
     */
    createWithinLimit(
      key: {
        userId: string;
        name: string;
        prefix: string;
        keyHash: string;
        scopes: string[];
        expiresAt: Date | null;
      },
      limit: number,
    ) {
      return db.transaction().execute(async (trx) => {
        const owner = await trx
          .selectFrom('users')
          .select('id')
          .where('id', '=', key.userId)
          .forNoKeyUpdate()
          .executeTakeFirst();
        if (!owner) return undefined;
        const { active } = await trx
          .selectFrom('apiKeys')
          .select((eb) => eb.fn.countAll<number>().as('active'))
          .where('userId', '=', key.userId)
          .where('revokedAt', 'is', null)
          .executeTakeFirstOrThrow();
        if (Number(active) >= limit) return 'limit' as const;
        return trx.insertInto('apiKeys').values(key).returning(LISTED).executeTakeFirstOrThrow();
      });
    },

    listActive(userId: string) {
      return db
        .selectFrom('apiKeys')
        .select(LISTED)
        .where('userId', '=', userId)
        .where('revokedAt', 'is', null)
        .orderBy('createdAt', 'desc')
        .orderBy('id')
        .execute();
    },

    /** Revokes one of this user's keys; false when there is no such active key of theirs. */
    async revoke(userId: string, id: string): Promise<boolean> {
      const result = await db
        .updateTable('apiKeys')
        .set({ revokedAt: sql`now()` })
        .where('id', '=', id)
        .where('userId', '=', userId)
        .where('revokedAt', 'is', null)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    /**
     * The owner of an unrevoked key and the key's scopes, in one query; `expired` when its expiry
     * has passed (by the database's clock). Records the use of a live key at most once a minute.
     */
    async authenticate(
      keyHash: string,
    ): Promise<
      { id: string; email: string; role: Role; keyId: string; scopes: string[]; expired: boolean } | undefined
    > {
      const row = await db
        .selectFrom('apiKeys')
        .innerJoin('users', 'users.id', 'apiKeys.userId')
        .select([
          'apiKeys.id as keyId',
          'users.id',
          'users.email',
          'users.role',
          'apiKeys.scopes',
          sql<boolean>`coalesce(api_keys.last_used_at < ${LAST_USED_RESOLUTION}, true)`.as('stale'),
          sql<boolean>`coalesce(api_keys.expires_at <= now(), false)`.as('expired'),
        ])
        .where('apiKeys.keyHash', '=', keyHash)
        .where('apiKeys.revokedAt', 'is', null)
        .executeTakeFirst();
      if (!row) return undefined;
      if (row.stale && !row.expired) {
        await db.updateTable('apiKeys').set({ lastUsedAt: sql`now()` }).where('id', '=', row.keyId).execute();
      }
      const { id, email, role, keyId, scopes, expired } = row;
      return { id, email, role, keyId, scopes, expired };
    },
  };
}
