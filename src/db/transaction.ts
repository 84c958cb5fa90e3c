import { setTimeout as sleep } from 'node:timers/promises';
import { type Kysely, type KyselyPlugin, sql, type Transaction } from 'kysely';
import { type Deadline, deadlineExceeded, startBy } from '../lib/deadline.ts';
import { backoffDelay } from '../lib/retry.ts';
import { type BeginSettings, beginSettings } from './begin-settings.ts';
import { isRetryableTransactionError, pgErrorCode } from './errors.ts';
import { preparingEvery } from './prepared-statements.ts';
import type { DB } from './schema.ts';

export type Trx = Transaction<DB>;

export interface TransactionOptions {
  /** Runs in all, the first included, when PostgreSQL aborts one for a deadlock or serialization failure. */
  attempts?: number;
  /**
   * The request's deadline: waiting for a connection counts against it, every statement is
   * bounded by what is left of it, and past it the transaction rolls back instead of committing,
   * so whoever was answered 503 (or gave up at the deadline) never finds the work done later.
   */
  deadline?: Deadline | undefined;
  /** Every statement of the work as a named prepared statement: key lookups and key writes only (preparingEvery). */
  prepared?: boolean;
}

/** First retry after 5–10 ms, doubling: four retries stay under ~150 ms together. */
const RETRY_BASE_MS = 10;
/** A statement that used more of the budget than this re-arms statement_timeout for the next one. */
const REARM_SLACK_MS = 50;

/**
 * Runs `work` in one transaction, again (a bounded number of times, after a jittered exponential
 * pause) when PostgreSQL aborted it for a deadlock or serialization failure. Work must be
 * repeatable: everything it changes is rolled back before a retry. Once the attempts are spent
 * the error goes up, and the error handler answers 503 with Retry-After.
 */
export async function inTransaction<T>(
  db: Kysely<DB>,
  work: (trx: Trx) => Promise<T>,
  { attempts = 5, deadline, prepared = false }: TransactionOptions = {},
): Promise<T> {
  if (prepared) return preparingEvery(() => inTransaction(db, work, { attempts, deadline }));
  for (let attempt = 0; ; attempt++) {
    try {
      if (!deadline) return await db.transaction().execute(work);
      return await startBy(deadline, (begin) => runWithin(db, deadline, begin, work));
    } catch (error) {
      // statement_timeout was set from the deadline: a cancelled statement means time is up.
      if (deadline && pgErrorCode(error) === '57014') throw deadlineExceeded();
      if (attempt + 1 >= attempts || !isRetryableTransactionError(error)) throw error;
      const pause = backoffDelay(attempt, RETRY_BASE_MS);
      if (deadline && deadline.remainingMs() <= pause) throw error;
      await sleep(pause);
    }
  }
}

/**
 * One attempt: `begin` fails it if the deadline passed while it waited for a connection. The
 * statement_timeout rides on the BEGIN where the pool's client can send both at once
 * (pool-client.ts); elsewhere (PGlite) it is its own statement.
 */
function runWithin<T>(db: Kysely<DB>, deadline: Deadline, begin: () => void, work: (trx: Trx) => Promise<T>) {
  const settings: BeginSettings = { statementTimeoutMs: () => deadline.remainingMs(), carried: false };
  return beginSettings.run(settings, () =>
    db.transaction().execute(async (trx) => {
      begin();
      if (!settings.carried) await armStatementTimeout(trx, deadline.remainingMs());
      const result = await work(trx.withPlugin(rearmingPlugin(trx, deadline)));
      // Done, but late: a client that gave up at the deadline will retry, so this must not commit.
      if (deadline.expired()) throw deadlineExceeded();
      return result;
    }),
  );
}

/** SET LOCAL statement_timeout (0 would mean none, so at least 1 ms). */
async function armStatementTimeout(trx: Trx, ms: number): Promise<void> {
  await sql`select set_config('statement_timeout', ${String(Math.max(1, Math.ceil(ms)))}, true)`.execute(trx);
}

/**
 * statement_timeout is per statement, so a transaction whose first statement waited long (for a
 * row lock) would give the next one the whole budget again. After any statement that used a
 * noticeable part of the budget the timeout is set to what is left; past the deadline the work
 * stops at once (and rolls back).
 */
function rearmingPlugin(trx: Trx, deadline: Deadline): KyselyPlugin {
  // The armed timeout overshoots the deadline by the time elapsed since it was set.
  let armedAt = Date.now();
  return {
    transformQuery: (args) => args.node,
    async transformResult(args) {
      if (deadline.expired()) throw deadlineExceeded();
      if (Date.now() - armedAt > REARM_SLACK_MS) {
        armedAt = Date.now();
        await armStatementTimeout(trx, deadline.remainingMs());
      }
      return args.result;
    },
  };
}
