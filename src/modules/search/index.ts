import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import { createEmbedder, type Embedder } from '../../lib/embeddings/embedder.ts';
import type { JobQueue } from '../../lib/jobs/queue.ts';
import { defineModule } from '../module.ts';
import { createIndexingJobs } from './indexing.jobs.ts';
import { createSearchRepository } from './search.repository.ts';
import { searchRoutes } from './search.routes.ts';
import { createSearchService } from './search.service.ts';
import { ensureVectorSupport } from './vector-support.ts';

export interface SearchModuleDeps {
  database: Pick<Database, 'db' | 'read'>;
  config: Config;
  queue: Pick<JobQueue, 'send' | 'sendMany' | 'hasQueued'>;
  log: FastifyBaseLogger;
  /** Defaults to the one the configuration names. */
  embedder?: Embedder;
}

/**
 * Wires search: vector support (or the full-text fallback, with one warning), embedder,
 * repository → service → routes (GET /api/markets/search), and the indexing jobs. Used by the API
 * and by the worker process.
 */
export async function createSearchModule({
  database,
  config,
  queue,
  log,
  embedder: given,
}: SearchModuleDeps) {
  const vector = await ensureVectorSupport(database.db, config.EMBEDDING_DIMENSIONS);
  if (!vector.enabled) {
    log.warn(
      { reason: vector.reason },
      'pgvector is not available (CREATE EXTENSION vector failed): search runs on full text only, meta.mode = "fulltext"',
    );
  }
  const embedder = given ?? createEmbedder(config, log);
  const repository = createSearchRepository(database.db, database.read, {
    fullTextPool: config.SEARCH_FULLTEXT_POOL,
    efSearch: config.SEARCH_HNSW_EF_SEARCH,
  });
  const indexing = createIndexingJobs({ search: repository, embedder, queue, vectorEnabled: vector.enabled });
  const service = createSearchService({
    search: repository,
    embedder,
    mode: vector.enabled ? 'hybrid' : 'fulltext',
    queryEmbeddingCacheSize: config.SEARCH_QUERY_EMBEDDING_CACHE_SIZE,
  });
  return defineModule({
    indexing,
    routes: async (app) => {
      await app.register(searchRoutes(service), { prefix: '/api/markets' });
    },
    /** This process's indexing workers (one provider call per batch of markets). */
    jobs: [
      {
        name: 'search.index-market',
        concurrency: config.WORKER_CONCURRENCY,
        batchSize: Math.min(config.EMBEDDINGS_BATCH_SIZE, 32),
        handle: (jobs) => indexing.handle(jobs),
      },
    ],
  });
}
