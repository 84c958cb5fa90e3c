import { type Kysely, sql } from 'kysely';
import { compiledOnce } from '../../db/prepared-statements.ts';
import type { DB, Role } from '../../db/schema.ts';

export type UserRepository = ReturnType<typeof createUserRepository>;

/** Every column a response may show. The password hash is read only by `findCredentials`. */
export const USER_COLUMNS = ['id', 'email', 'name', 'role', 'balance', 'createdAt'] as const;
export interface UserRecord {
  id: string;
  email: string;
  name: string;
  role: Role;
  /** Cents. */
  balance: number;
  createdAt: Date;
}

/** signupGrantCents: the balance a new user starts with (the database records it as granted). */
export function createUserRepository(db: Kysely<DB>, { signupGrantCents }: { signupGrantCents: number }) {
  const byEmail = (email: string) => sql<boolean>`lower(email) = ${email.toLowerCase()}`;

  /** Compiled once and prepared (prepared-statements.ts): every signed-in request reads its user by id. */
  const byId = compiledOnce(
    (id: string) => db.selectFrom('users').select(USER_COLUMNS).where('id', '=', id),
    'users_by_id',
  );

  return {
    async findById(id: string): Promise<UserRecord | undefined> {
      const { rows } = await db.executeQuery(byId(id));
      return rows[0];
    },

    /** What login needs: the stored hash (null for users without a password). */
    findCredentials(email: string) {
      return db
        .selectFrom('users')
        .select(['id', 'email', 'role', 'passwordHash'])
        .where(byEmail(email))
        .executeTakeFirst();
    },

    /**
     * Throws a unique violation (users_email_lower_key) when the email is taken in any case.
     * `granted: false` starts the account at 0 instead of the signup grant.
     */
    create(
      user: { email: string; name: string; passwordHash: string },
      { trx = db, granted = true }: { trx?: Kysely<DB>; granted?: boolean } = {},
    ): Promise<UserRecord> {
      return trx
        .insertInto('users')
        .values({ ...user, balance: granted ? signupGrantCents : 0 })
        .returning(USER_COLUMNS)
        .executeTakeFirstOrThrow();
    },

    updateName(id: string, name: string): Promise<UserRecord | undefined> {
      return db
        .updateTable('users')
        .set({ name })
        .where('id', '=', id)
        .returning(USER_COLUMNS)
        .executeTakeFirst();
    },

    /** One page in creation order; one extra row tells whether there is a next page. */
    async list({ limit, offset, count }: { limit: number; offset: number; count: boolean }) {
      const [rows, total] = await Promise.all([
        db
          .selectFrom('users')
          .select(USER_COLUMNS)
          .orderBy('createdAt')
          .orderBy('id')
          .limit(limit + 1)
          .offset(offset)
          .execute(),
        count
          ? db
              .selectFrom('users')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
              .then((r) => Number(r.n))
          : undefined,
      ]);
      return { rows: rows.slice(0, limit), hasMore: rows.length > limit, total };
    },

    /**
     * Sets a role, refusing to leave no admin. A demotion first locks every admin row in id order,
     * so two admins demoting each other at once queue up: the second sees one admin left. FOR NO
     * KEY UPDATE, like every user lock (ledger.repository.ts): an admin's concurrent inserts
     * (a market, a session) hold a key-share lock on their row that FOR UPDATE would wait behind.
     */
    changeRole(id: string, role: Role): Promise<UserRecord | 'not-found' | 'last-admin'> {
      return db.transaction().execute(async (trx) => {
        const admins =
          role === 'admin'
            ? undefined
            : await trx
                .selectFrom('users')
                .select('id')
                .where('role', '=', 'admin')
                .orderBy('id')
                .forNoKeyUpdate()
                .execute();
        if (admins && admins.length <= 1 && admins[0]?.id === id) return 'last-admin';
        const updated = await trx
          .updateTable('users')
          .set({ role })
          .where('id', '=', id)
          .returning(USER_COLUMNS)
          .executeTakeFirst();
        return updated ?? 'not-found';
      });
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

    findByExternalId(issuer: string, subject: string): Promise<UserRecord | undefined> {
      return db
        .selectFrom('users')
        .select(USER_COLUMNS)
        .where('externalIssuer', '=', issuer)
        .where('externalSubject', '=', subject)
        .executeTakeFirst();
    },

    /** Ties an existing account with this email, not yet tied to any provider, to this external identity. */
    linkExternalByEmail(email: string, issuer: string, subject: string): Promise<UserRecord | undefined> {
      return db
        .updateTable('users')
        .set({ externalIssuer: issuer, externalSubject: subject })
        .where(byEmail(email))
        .where('externalSubject', 'is', null)
        .returning(USER_COLUMNS)
        .executeTakeFirst();
    },

    /** Throws a unique violation when another request created the same identity or email first. */
    createExternal(user: { email: string; name: string; role: Role; issuer: string; subject: string }) {
      const { issuer, subject, ...rest } = user;
      return db
        .insertInto('users')
        .values({ ...rest, balance: signupGrantCents, externalIssuer: issuer, externalSubject: subject })
        .returning(USER_COLUMNS)
        .executeTakeFirstOrThrow();
    },

    /** Finds the user with this email (any case) or creates it; the role is set as given (`npm run token`). */
    async upsertByEmail(email: string, name: string, role: Role): Promise<UserRecord> {
      const existing = await db
        .selectFrom('users')
        .select(USER_COLUMNS)
        .where(byEmail(email))
        .executeTakeFirst();
      if (existing) {
        if (existing.role === role) return existing;
        return db
          .updateTable('users')
          .set({ role })
          .where('id', '=', existing.id)
          .returning(USER_COLUMNS)
          .executeTakeFirstOrThrow();
      }
      return db
        .insertInto('users')
        .values({ email, name, role, balance: signupGrantCents })
        .returning(USER_COLUMNS)
        .executeTakeFirstOrThrow();
    },
  };
}
