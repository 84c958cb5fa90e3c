import { type Kysely, sql } from 'kysely';
import type { DB, Role, UserRow } from '../../db/schema.ts';

export type UserRepository = ReturnType<typeof createUserRepository>;

/** signupGrantCents: the balance a new user starts with (recorded as granted by the database). */
export function createUserRepository(db: Kysely<DB>, { signupGrantCents }: { signupGrantCents: number }) {
  return {
    findById(id: string): Promise<UserRow | undefined> {
      return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    },

    /** Public profiles for many users in one query (the N+1 cure for `include=creator`). */
    async findProfiles(ids: readonly string[]): Promise<Map<string, { id: string; name: string }>> {
      if (ids.length === 0) return new Map();
      const rows = await db
        .selectFrom('users')
        .select(['id', 'name'])
        .where('id', 'in', [...new Set(ids)])
        .execute();
      return new Map(rows.map((r) => [r.id, r]));
    },

    /** Finds the user with this email (any case) or creates it; the role is set as given. */
    async upsertByEmail(email: string, name: string, role: Role): Promise<UserRow> {
      const existing = await db
        .selectFrom('users')
        .selectAll()
        .where(sql`lower(email)`, '=', email.toLowerCase())
        .executeTakeFirst();
      if (existing) {
        if (existing.role === role) return existing;
        return db
          .updateTable('users')
          .set({ role })
          .where('id', '=', existing.id)
          .returningAll()
          .executeTakeFirstOrThrow();
      }
      return db
        .insertInto('users')
        .values({ email, name, role, balance: signupGrantCents })
        .returningAll()
        .executeTakeFirstOrThrow();
    },
  };
}
