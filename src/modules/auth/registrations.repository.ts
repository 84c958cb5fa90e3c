import { sql } from 'kysely';
import type { Trx } from '../../db/transaction.ts';

export type RegistrationRepository = typeof registrationRepository;

const dayAgo = sql<Date>`now() - interval '1 day'`;

/**
 * Sign-ups per client address over the last day (the table keeps a digest, never the address).
 * Every method runs in the sign-up's transaction.
 */
export const registrationRepository = {
  /**
   * Until the transaction ends, other sign-ups from this address wait: two sign-ups from one
   * address take turns, on every instance, so the count below cannot be raced past the limit.
   */
  async lockAddress(trx: Trx, ipHash: string): Promise<void> {
    await sql`select pg_advisory_xact_lock(hashtextextended(${ipHash}, 7204612))`.execute(trx);
  },

  /** This address's sign-ups of the last day: how many, how many got the grant, and when the oldest expires. */
  async lastDay(trx: Trx, ipHash: string) {
    const row = await trx
      .selectFrom('registrations')
      .select([
        sql<number>`count(*)::int`.as('total'),
        sql<number>`(count(*) filter (where granted))::int`.as('granted'),
        sql<Date | null>`min(created_at) + interval '1 day'`.as('oldestExpiresAt'),
      ])
      .where('ipHash', '=', ipHash)
      .where('createdAt', '>', dayAgo)
      .executeTakeFirstOrThrow();
    return { total: Number(row.total), granted: Number(row.granted), oldestExpiresAt: row.oldestExpiresAt };
  },

  /** Records a sign-up and forgets those older than a day (any address). */
  async record(trx: Trx, ipHash: string, granted: boolean): Promise<void> {
    await trx.deleteFrom('registrations').where('createdAt', '<=', dayAgo).execute();
    await trx.insertInto('registrations').values({ ipHash, granted }).execute();
  },
};
