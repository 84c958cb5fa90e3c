import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/schema.ts';

/** Held by the one instance pruning at a time; the others skip their run. */
const PRUNE_LOCK_ID = 6_001_009;
const BATCH = 5_000;

/**
 * Deletes the events older than `hours`, as a prefix of the log, and raises the watermark
 * (event_log_state.pruned_through) in the same transaction as each delete. Returns how many went.
 *
 * Why a prefix: created_at is when the appending transaction began, seq when it committed, so
 * they are not in the same order; deleting "created_at < cutoff" could drop 100 and keep 99, and
 * the watermark would then lie about 99. Instead everything up to the newest old event's seq goes
 * (a few events a little younger than the cutoff with it).
 */
export async function pruneEventsOlderThan(db: Kysely<DB>, hours: number): Promise<number> {
  const { rows } = await sql<{ through: number | null }>`
    select max(seq)::int8 as through from events
    where created_at < now() - make_interval(hours => ${hours})`.execute(db);
  const through = rows[0]?.through;
  if (through === null || through === undefined) return 0;
  let total = 0;
  for (;;) {
    const deleted = await db.transaction().execute(async (trx) => {
      const lock = await sql<{
        got: boolean;
      }>`select pg_try_advisory_xact_lock(${PRUNE_LOCK_ID}) as got`.execute(trx);
      if (!lock.rows[0]?.got) return 0; // another instance is pruning
      const gone = await sql<{ seq: number }>`
        delete from events where seq in (
          select seq from events where seq <= ${through} order by seq limit ${BATCH}
        ) returning seq`.execute(trx);
      const highest = gone.rows.reduce((max, r) => Math.max(max, Number(r.seq)), 0);
      if (highest > 0) {
        await sql`update event_log_state set pruned_through = greatest(pruned_through, ${highest})`.execute(
          trx,
        );
      }
      return gone.rows.length;
    });
    total += deleted;
    if (deleted < BATCH) return total;
  }
}
