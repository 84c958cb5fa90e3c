import type { Kysely } from 'kysely';
import { fromKysely, fromPglite, PgBoss } from 'pg-boss';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import type { DB } from '../../db/schema.ts';
import {
  deadLetterQueueOf,
  JOB_NAMES,
  type JobName,
  type JobPayloads,
  KEYED_QUEUES,
  type ScheduleName,
} from './jobs.ts';

export interface RetryOptions {
  /** Retries after the first attempt; then the job is dead-lettered. */
  limit: number;
  /** First retry delay; pg-boss doubles it per attempt, with jitter, up to delayMaxSeconds. */
  delaySeconds: number;
  delayMaxSeconds: number;
}

export interface JobQueueOptions {
  retry: RetryOptions;
  pollIntervalMs: number;
  /** Jobs running longer are presumed lost (their process died) and retried. */
  expireInSeconds?: number;
  /**
   * Whether this instance takes part in pg-boss's cron (processes that run workers): it then claims
   * cron passes, which send each due schedule's job once per deployment. Off, schedules never fire
   * from here (an API process with WORKERS=false).
   */
  schedules?: boolean;
  /** Seconds between this instance's attempts at a cron pass (pg-boss: 1–45, default 30). */
  cronIntervalSeconds?: number;
  /**
   * A running job's worker refreshes it every half of this; a job not refreshed for this long (its
   * worker was killed) is failed and so retried by another worker, long before it would expire.
   */
  heartbeatSeconds?: number;
  /** How often this process looks for jobs whose heartbeat stopped or that expired. */
  superviseIntervalSeconds?: number;
  onError?: (error: Error) => void;
}

/**
 * The queue's settings from the configuration (the API and the worker process share them).
 * `runsWorkers`: this process takes jobs and schedules (the worker process, or the API with WORKERS).
 */
export function jobQueueOptions(
  config: Config,
  log: { error(obj: object, msg: string): void },
  runsWorkers = false,
): JobQueueOptions {
  return {
    schedules: runsWorkers,
    retry: {
      limit: config.JOB_RETRY_LIMIT,
      delaySeconds: config.JOB_RETRY_DELAY_SECONDS,
      delayMaxSeconds: config.JOB_RETRY_DELAY_MAX_SECONDS,
    },
    pollIntervalMs: config.WORKER_POLL_INTERVAL_MS,
    heartbeatSeconds: config.JOB_HEARTBEAT_SECONDS,
    superviseIntervalSeconds: config.JOB_SUPERVISE_INTERVAL_SECONDS,
    onError: (error) => log.error({ err: error }, 'job queue error'),
  };
}

/** A job that exhausted its retries, as the admin API shows it. */
export interface DeadLetter {
  id: string;
  queue: string;
  data: unknown;
  error: string;
  attempts: number;
  failedAt: Date;
}

/** One job of a batch, as a handler sees it. */
export interface JobInBatch<N extends JobName> {
  id: string;
  payload: JobPayloads[N];
  /** 1 for the first attempt. */
  attempt: number;
}

/** What became of one job. Throwing from a handler instead fails (and so retries) the whole batch. */
export type JobOutcome =
  | { id: string; status: 'completed' }
  | { id: string; status: 'failed' | 'deadletter'; error: string };

/** Handles a batch of jobs; one outcome per job. `failed` retries (until the limit), `deadletter` does not. */
export type BatchHandler<N extends JobName> = (jobs: JobInBatch<N>[]) => Promise<JobOutcome[]>;

export type JobQueue = Awaited<ReturnType<typeof createJobQueue>>;

/**
 * Durable jobs with pg-boss in the application's own database. On PGlite pg-boss shares the one
 * embedded connection through its PGlite adapter (statements without parameters go through exec(),
 * which runs several per string and hands back every statement's rows); on a server it has a small
 * pool of its own. Queues and their dead-letter queues are created at start.
 */
export async function createJobQueue(database: Database, options: JobQueueOptions) {
  const scheduling = {
    schedule: options.schedules ?? false,
    ...(options.cronIntervalSeconds !== undefined && {
      cronMonitorIntervalSeconds: options.cronIntervalSeconds,
      cronWorkerIntervalSeconds: options.cronIntervalSeconds,
    }),
    ...(options.superviseIntervalSeconds && {
      superviseIntervalSeconds: options.superviseIntervalSeconds,
      monitorIntervalSeconds: options.superviseIntervalSeconds,
    }),
  };
  const boss = database.pglite
    ? new PgBoss({ db: fromPglite(database.pglite), backend: 'pglite', ...scheduling })
    : new PgBoss({ connectionString: database.url, max: 4, ...scheduling });
  // Per job rather than per queue: pg-boss keeps a queue's settings from its creation, so queues
  // made before heartbeats were set would otherwise never get one.
  const heartbeat = options.heartbeatSeconds ? { heartbeatSeconds: options.heartbeatSeconds } : {};
  boss.on('error', (error) => options.onError?.(error as Error));
  await boss.start();
  for (const name of JOB_NAMES) {
    const deadLetter = deadLetterQueueOf(name);
    // Dead letters wait for an operator: no worker takes them, and they are kept for 30 days.
    await boss.createQueue(deadLetter, { retentionSeconds: 30 * 24 * 3600 });
    await boss.createQueue(name, {
      retryLimit: options.retry.limit,
      retryDelay: options.retry.delaySeconds,
      retryBackoff: true,
      retryDelayMax: options.retry.delayMaxSeconds,
      expireInSeconds: options.expireInSeconds ?? 300,
      deadLetter,
      ...(KEYED_QUEUES.includes(name) && { policy: 'stately' as const }),
    });
  }

  return {
    /**
     * Enqueues a job. Given a transaction, the job row is inserted on that transaction's
     * connection: it exists exactly when the caller's write commits, so a crash between the write
     * and the enqueue cannot lose it.
     */
    async send<N extends JobName>(name: N, payload: JobPayloads[N], trx?: Kysely<DB>): Promise<string> {
      const id = await boss.send(name, payload, { ...heartbeat, ...(trx && { db: fromKysely(trx) }) });
      if (!id) throw new Error(`pg-boss refused a ${name} job`);
      return id;
    },

    /**
     * Enqueues a job of a keyed queue (KEYED_QUEUES) unless one with this key is already waiting;
     * false then (the waiting one will do the work). `startAfter` defers it (a retry's backoff).
     */
    async sendKeyed<N extends JobName>(
      name: N,
      payload: JobPayloads[N],
      key: string,
      startAfter?: Date,
    ): Promise<boolean> {
      const id = await boss.send(name, payload, {
        ...heartbeat,
        singletonKey: key,
        ...(startAfter && { startAfter }),
      });
      return id !== null;
    },

    /**
     * Enqueues many jobs in one statement; `key` tags them (see hasQueued). Given a transaction,
     * they exist exactly when it commits, as with send().
     */
    async sendMany<N extends JobName>(
      name: N,
      payloads: JobPayloads[N][],
      { key, trx }: { key?: string; trx?: Kysely<DB> } = {},
    ): Promise<number> {
      if (payloads.length === 0) return 0;
      await boss.insert(
        name,
        payloads.map((data) => ({ data, ...heartbeat, ...(key !== undefined && { singletonKey: key }) })),
        trx ? { db: fromKysely(trx) } : {},
      );
      return payloads.length;
    },

    /** Whether a job of `name` tagged `key` is still waiting (queued or waiting to retry). */
    async hasQueued(name: JobName, key: string): Promise<boolean> {
      return (await boss.findJobs(name, { key, queued: true, limit: 1 })).length > 0;
    },

    /**
     * Runs `handler` on batches of up to `batchSize` jobs of `name`, `concurrency` batches at a
     * time in this process. A batch lets a handler make one provider call for many jobs.
     */
    async work<N extends JobName>(
      name: N,
      { concurrency, batchSize }: { concurrency: number; batchSize: number },
      handler: BatchHandler<N>,
    ): Promise<void> {
      await boss.work<JobPayloads[N]>(
        name,
        {
          batchSize,
          localConcurrency: concurrency,
          pollingIntervalSeconds: options.pollIntervalMs / 1000,
          perJobResults: true,
        },
        async (jobs) => {
          const outcomes = await handler(
            jobs.map((job) => ({ id: job.id, payload: job.data, attempt: job.retryCount + 1 })),
          );
          return outcomes.map((o) =>
            o.status === 'completed' ? o : { id: o.id, status: o.status, output: { message: o.error } },
          );
        },
      );
    },

    /**
     * Runs `task` on `cron` (UTC) once per deployment, however many processes do the same: the
     * schedule is upserted (the latest cron expression wins), and this process's worker takes the
     * schedule's job when its cron pass, or another process's, sends it. A run that fails is not
     * retried; the next occurrence comes anyway. After an outage one missed run is made up at once.
     */
    async schedule(name: ScheduleName, cron: string, task: () => Promise<void>): Promise<void> {
      await boss.createQueue(name, { retryLimit: 0, expireInSeconds: options.expireInSeconds ?? 300 });
      await boss.schedule(name, cron, null, { missed: 'once' });
      await boss.work(name, { pollingIntervalSeconds: options.pollIntervalMs / 1000 }, () => task());
    },

    /** Jobs waiting in the dead-letter queues, oldest first, with the error of their last attempt. */
    async listDeadLetters(limit: number): Promise<DeadLetter[]> {
      const out: DeadLetter[] = [];
      for (const name of JOB_NAMES) {
        const jobs = await boss.findJobs(deadLetterQueueOf(name), { queued: true, limit });
        for (const job of jobs) {
          out.push({
            id: job.id,
            queue: job.sourceName ?? name,
            data: job.data,
            error: errorMessage(job.sourceOutput),
            attempts: (job.sourceRetryCount ?? 0) + 1,
            failedAt: job.createdOn,
          });
        }
      }
      return out.sort((a, b) => a.failedAt.getTime() - b.failedAt.getTime()).slice(0, limit);
    },

    /** Moves a dead letter back to its queue as a fresh job with a full set of retries. False if unknown. */
    async retryDeadLetter(id: string): Promise<boolean> {
      for (const name of JOB_NAMES) {
        if ((await boss.redrive(deadLetterQueueOf(name), { ids: [id] })) > 0) return true;
      }
      return false;
    },

    /** Jobs of `name` by state, for tests and operators. */
    async countByState(name: JobName | ScheduleName): Promise<Record<string, number>> {
      const counts: Record<string, number> = {};
      for (const job of await boss.findJobs(name, { limit: 100_000 })) {
        const state = (job as { state?: string }).state ?? 'unknown';
        counts[state] = (counts[state] ?? 0) + 1;
      }
      return counts;
    },

    /**
     * Stops taking jobs and waits up to `timeoutMs` for running ones. A job still running then is
     * left active, never marked done: pg-boss retries it after it expires.
     */
    async stop(timeoutMs: number): Promise<void> {
      await boss.stop({ graceful: true, timeout: timeoutMs, close: !database.pglite });
    },
  };
}

/** pg-boss stores a thrown error as its serialised form; the message is what an operator needs. */
function errorMessage(output: unknown): string {
  if (output && typeof output === 'object' && 'message' in output) return String(output.message);
  return output === null || output === undefined ? 'unknown error' : JSON.stringify(output);
}
