import type pg from 'pg';
import { eventually } from './eventually.ts';

/**
 * Resolves once a session of this database waits for a lock (a row, an advisory lock), asked
 * through `client`: how tests know a statement they started has reached the lock they hold.
 * `client` may be in a transaction (the one holding the lock): there pg_stat_activity keeps what
 * its first read saw until the transaction ends, so each poll clears that snapshot first.
 */
export async function untilALockIsAwaited(client: pg.Client, what: string, ms = 5000): Promise<void> {
  await eventually(
    async () => {
      await client.query('select pg_stat_clear_snapshot()');
      const { rows } = await client.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`,
      );
      return rows[0]!.n > 0;
    },
    ms,
    what,
  );
}
