/**
 * Every background job by name, with its payload. Payloads carry ids, not copies of rows: a job
 * reads the current row when it runs, so a retried or late job never works on stale data.
 */
export interface JobPayloads {
  /** (Re)compute a market's search embedding. */
  'search.index-market': { marketId: string };
}

export type JobName = keyof JobPayloads;

export const JOB_NAMES = ['search.index-market'] as const satisfies readonly JobName[];

/** Where a job goes once its retries are spent. */
export const deadLetterQueueOf = (name: JobName) => `${name}.dead`;
