import { type Kysely, sql } from 'kysely';
import type { DB, Role } from '../../db/schema.ts';

export type SessionRepository = ReturnType<typeof createSessionRepository>;

export type RotateResult =
  | { status: 'rotated'; user: { id: string; email: string; role: Role } }
  | { status: 'unknown' | 'expired' | 'revoked' }
  /** The token had already been exchanged: someone holds a copy. Its whole family is now revoked. */
  | { status: 'reused' };

/** Refresh tokens by family (one family = one login). Rows hold SHA-256 digests, never tokens. */
export function createSessionRepository(db: Kysely<DB>) {
  return {
    async start(session: { userId: string; tokenHash: string; expiresAt: Date }): Promise<void> {
      await db
        .insertInto('refreshTokens')
        .values({
          userId: session.userId,
          tokenHash: session.tokenHash,
          expiresAt: session.expiresAt,
          familyId: sql<string>`gen_random_uuid()`,
        })
        .execute();
    },

    /**
     * Exchanges a refresh token for its successor in one transaction. The row lock makes two
     * concurrent exchanges of the same token queue: the second sees it used and revokes the family.
     */
    rotate(oldHash: string, next: { tokenHash: string; expiresAt: Date }): Promise<RotateResult> {
      return db.transaction().execute(async (trx): Promise<RotateResult> => {
        const current = await trx
          .selectFrom('refreshTokens')
          .innerJoin('users', 'users.id', 'refreshTokens.userId')
          .select([
            'refreshTokens.id as tokenId',
            'refreshTokens.familyId',
            'refreshTokens.expiresAt',
            'refreshTokens.usedAt',
            'refreshTokens.revokedAt',
            'users.id',
            'users.email',
            'users.role',
          ])
          .where('refreshTokens.tokenHash', '=', oldHash)
          .forUpdate('refreshTokens')
          .executeTakeFirst();
        if (!current) return { status: 'unknown' };
        if (current.revokedAt) return { status: 'revoked' };
        if (current.usedAt) {
          await revokeFamily(trx, current.familyId);
          return { status: 'reused' };
        }
        if (current.expiresAt.getTime() <= Date.now()) return { status: 'expired' };
        await trx
          .updateTable('refreshTokens')
          .set({ usedAt: sql`now()` })
          .where('id', '=', current.tokenId)
          .execute();
        await trx
          .insertInto('refreshTokens')
          .values({
            tokenHash: next.tokenHash,
            expiresAt: next.expiresAt,
            familyId: current.familyId,
            userId: current.id,
          })
          .execute();
        return { status: 'rotated', user: { id: current.id, email: current.email, role: current.role } };
      });
    },

    /** Ends the session this token belongs to (its whole family); false when the token is unknown. */
    async revokeByToken(tokenHash: string): Promise<boolean> {
      const family = await db
        .selectFrom('refreshTokens')
        .select('familyId')
        .where('tokenHash', '=', tokenHash)
        .executeTakeFirst();
      if (!family) return false;
      await revokeFamily(db, family.familyId);
      return true;
    },
  };
}

function revokeFamily(db: Kysely<DB>, familyId: string) {
  return db
    .updateTable('refreshTokens')
    .set({ revokedAt: sql`now()` })
    .where('familyId', '=', familyId)
    .where('revokedAt', 'is', null)
    .execute();
}
