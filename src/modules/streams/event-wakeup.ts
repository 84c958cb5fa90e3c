import type { FastifyBaseLogger } from 'fastify';
import pg from 'pg';
import type { Database } from '../../db/database.ts';
import { EVENTS_CHANNEL } from '../events/index.ts';

export interface EventWakeup {
  stop(): Promise<void>;
}

const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 10_000;

/**
 * Calls `wake` when an append commits, on this instance or any other on the same PostgreSQL:
 * `append` sends a NOTIFY in its transaction (events.repository.ts), which PostgreSQL delivers to
 * every listening session at the commit. Why not Redis pub/sub: the notification is part of the
 * transaction itself (a publish after the commit is lost when the process dies in between), and
 * it needs nothing beyond the database the log is in. It is only a wake-up: the hub reads the log,
 * and polls it too, so a notification lost while the listening connection was down costs at most
 * one poll interval (and the reconnection wakes the hub at once).
 *
 * PostgreSQL: one dedicated connection (not from the pool: LISTEN belongs to its session), opened
 * again with backoff when it breaks (a restart, pg_terminate_backend). PGlite: its own listen(),
 * called when the appending transaction's COMMIT returns.
 */
export async function listenForAppends(
  database: Database,
  wake: () => void,
  log: FastifyBaseLogger,
): Promise<EventWakeup> {
  if (database.pglite) {
    const unlisten = await database.pglite.listen(EVENTS_CHANNEL, wake);
    return {
      async stop() {
        if (!database.pglite?.closed) await unlisten().catch(() => {});
      },
    };
  }
  const url = database.url;
  if (!url) throw new Error('a PostgreSQL database without a URL cannot LISTEN');

  let stopped = false;
  let client: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let delay = RECONNECT_MIN_MS;
  let warned = false;

  const scheduleReconnect = () => {
    if (stopped || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, delay).unref();
    delay = Math.min(RECONNECT_MAX_MS, delay * 2);
  };

  async function connect(): Promise<boolean> {
    const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000, keepAlive: true });
    let broken = false;
    const onBroken = (error?: Error) => {
      if (broken) return;
      broken = true;
      next.removeAllListeners('notification');
      next.end().catch(() => {});
      if (client === next) client = undefined;
      if (!stopped) {
        if (!warned) log.warn({ err: error }, 'event notifications lost: streams poll until they are back');
        warned = true;
        scheduleReconnect();
      }
    };
    next.on('error', onBroken);
    next.on('end', () => onBroken());
    next.on('notification', () => wake());
    try {
      await next.connect();
      await next.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (error) {
      onBroken(error as Error);
      return false;
    }
    if (stopped) {
      await next.end().catch(() => {});
      return false;
    }
    client = next;
    delay = RECONNECT_MIN_MS;
    if (warned) log.info('event notifications are back');
    warned = false;
    // Whatever committed while no one listened is read now, not at the next poll.
    wake();
    return true;
  }

  if (!(await connect())) log.warn('cannot LISTEN for events at start: streams poll the log meanwhile');
  return {
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      const last = client;
      client = undefined;
      last?.removeAllListeners('notification');
      await last?.end().catch(() => {});
    },
  };
}
