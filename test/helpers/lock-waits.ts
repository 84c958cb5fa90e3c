import type pg from 'pg';
import { eventually } from './eventually.ts';

/**
 * How many sessions of this database wait for a lock now (a row, an advisory lock), asked through
 * `client`. `client` may be in a transaction (the one holding the lock): there pg_stat_activity
 * keeps what its first read saw until the transaction ends, so the snapshot is cleared first.
 */
export async function locksAwaited(client: pg.Client): Promise<number> {
  await client.query('select pg_stat_clear_snapshot()');
  const { rows } = await client.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`,
  );
  return rows[0]!.n;
}

/**
 * Resolves once a session of this database waits for a lock, asked through `client`: how tests
 * know a statement they started has reached the lock they hold.
 */
export async function untilALockIsAwaited(client: pg.Client, what: string, ms = 5000): Promise<void> {
  await eventually(async () => (await locksAwaited(client)) > 0, ms, what);
}
