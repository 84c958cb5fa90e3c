import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { Embedder } from '../../lib/embeddings/embedder.ts';
import type { JobInBatch, JobOutcome, JobQueue } from '../../lib/jobs/queue.ts';
import { HttpError, isTransientStatus } from '../../lib/retry.ts';
import type { MarketToIndex, SearchRepository } from './search.repository.ts';

const JOB = 'search.index-market';
/** Markets per reindex page: one multi-row insert of jobs each. */
const REINDEX_PAGE = 1000;
/** Tags the jobs of a reindex run (pg-boss singleton key; the queue's policy makes it no constraint). */
const REINDEX_KEY = 'reindex';

export interface ReindexResult {
  /** Markets queued by this call. */
  queued: number;
  /** A previous run still had jobs waiting, or was still queueing: this call queued nothing. */
  alreadyPending: boolean;
}

interface Deps {
  search: Pick<SearchRepository, 'findForIndexing' | 'saveEmbeddings' | 'listIds'>;
  embedder: Embedder;
  queue: Pick<JobQueue, 'send' | 'sendMany' | 'hasQueued'>;
  /** Without pgvector there is nowhere to store a vector: jobs complete without calling the provider. */
  vectorEnabled: boolean;
}

export type IndexingJobs = ReturnType<typeof createIndexingJobs>;

/** The text a market is embedded from. */
export const documentOf = (market: Pick<MarketToIndex, 'name' | 'description'>) =>
  market.description ? `${market.name}\n${market.description}` : market.name;

/** Queues many markets for indexing in the caller's transaction (the sample-data seed does). */
export function enqueueIndexingMany(
  queue: Pick<JobQueue, 'sendMany'>,
  trx: Kysely<DB>,
  marketIds: string[],
): Promise<number> {
  return queue.sendMany(
    JOB,
    marketIds.map((marketId) => ({ marketId })),
    { trx },
  );
}

/** A provider answer that will not change on retry: a 4xx other than 408/429, or a malformed 200. */
export function isPermanent(error: unknown): boolean {
  return error instanceof HttpError && error.status !== undefined && !isTransientStatus(error.status);
}

/** Indexing markets for semantic search: enqueueing (inside the caller's transaction) and the job itself. */
export function createIndexingJobs({ search, embedder, queue, vectorEnabled }: Deps) {
  /** The reindex run this process is queueing, if any. */
  let queueing: Promise<number> | undefined;

  async function embedAndSave(markets: MarketToIndex[]) {
    await search.saveEmbeddings(markets, embedder.model, await embedder.embed(markets.map(documentOf)));
  }

  return {
    /** The markets module calls this in the transaction that writes the market. */
    enqueue(trx: Kysely<DB>, marketId: string): Promise<string> {
      return queue.send(JOB, { marketId }, trx);
    },

    /**
     * Queues every market (after a provider or dimension change). Idempotent while a run is
     * pending: if this process is still queueing one, or any job of an earlier run still waits,
     * it queues nothing (each call used to add one job per market, millions of rows). Once the
     * run's last job has started, a new call queues again.
     */
    async reindexAll(): Promise<ReindexResult> {
      if (queueing || (await queue.hasQueued(JOB, REINDEX_KEY))) return { queued: 0, alreadyPending: true };
      queueing = (async () => {
        let total = 0;
        for (let after: string | undefined; ; ) {
          const ids = await search.listIds(after, REINDEX_PAGE);
          if (ids.length === 0) return total;
          total += await queue.sendMany(
            JOB,
            ids.map((marketId) => ({ marketId })),
            { key: REINDEX_KEY },
          );
          after = ids.at(-1);
        }
      })();
      try {
        return { queued: await queueing, alreadyPending: false };
      } finally {
        queueing = undefined;
      }
    },

    /**
     * Embeds a batch of markets in one provider call. Transient failures throw, so pg-boss retries
     * the batch with backoff. A permanent refusal dead-letters at once with the provider's message;
     * in a batch of several it first retries each market alone, so one bad text cannot sink the rest.
     */
    async handle(jobs: JobInBatch<typeof JOB>[]): Promise<JobOutcome[]> {
      if (!vectorEnabled) return jobs.map((job) => ({ id: job.id, status: 'completed' }));
      const markets = await search.findForIndexing(jobs.map((job) => job.payload.marketId));
      const byId = new Map(markets.map((m) => [m.id, m]));
      try {
        await embedAndSave(markets);
        // A market deleted since it was queued has nothing left to index: done as well.
        return jobs.map((job) => ({ id: job.id, status: 'completed' }));
      } catch (error) {
        if (!isPermanent(error)) throw error;
        if (jobs.length === 1)
          return [{ id: jobs[0]!.id, status: 'deadletter', error: (error as Error).message }];
      }
      const outcomes: JobOutcome[] = [];
      for (const job of jobs) {
        const market = byId.get(job.payload.marketId);
        try {
          if (market) await embedAndSave([market]);
          outcomes.push({ id: job.id, status: 'completed' });
        } catch (error) {
          const status = isPermanent(error) ? 'deadletter' : 'failed';
          outcomes.push({ id: job.id, status, error: (error as Error).message });
        }
      }
      return outcomes;
    },
  };
}
