/**
 * Every background job by name, with its payload. Payloads carry ids, not copies of rows: a job
 * reads the current row when it runs, so a retried or late job never works on stale data.
 */
export interface JobPayloads {
  /** (Re)compute a market's search embedding. */
  'search.index-market': { marketId: string };
  /** Deliver a webhook subscription's pending events, in order (one job per subscription at a time). */
  'webhooks.deliver': { subscriptionId: string };
  /** Send one dead-lettered delivery again. */
  'webhooks.replay': { subscriptionId: string; deliveryId: string };
}

export type JobName = keyof JobPayloads;

export const JOB_NAMES = [
  'search.index-market',
  'webhooks.deliver',
  'webhooks.replay',
] as const satisfies readonly JobName[];

/**
 * Queues whose jobs are keyed: pg-boss's `stately` policy keeps at most one job per key queued and
 * one active, so a subscription's events are never delivered by two workers at once.
 */
export const KEYED_QUEUES: readonly JobName[] = ['webhooks.deliver'];

/** Where a job goes once its retries are spent. */
export const deadLetterQueueOf = (name: JobName) => `${name}.dead`;

/**
 * Maintenance that runs once per deployment, as pg-boss cron schedules: whichever process's cron
 * pass claims the minute sends one job, and one worker of any process takes it. A schedule's job
 * carries no payload (it means "do it now").
 */
export const SCHEDULE_NAMES = [
  'maintenance.prune-idempotency-keys',
  'maintenance.prune-events',
  'maintenance.expire-orders',
  'leaderboard.snapshot-portfolios',
  'leaderboard.refresh',
] as const;

export type ScheduleName = (typeof SCHEDULE_NAMES)[number];
