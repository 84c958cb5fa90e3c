import type { JobQueue } from '../../lib/jobs/queue.ts';
import { defineModule } from '../module.ts';
import { jobsAdminRoutes } from './jobs.routes.ts';

interface Deps {
  queue: Pick<JobQueue, 'listDeadLetters' | 'retryDeadLetter'>;
  /** Queues every market for indexing (the search module's), unless a previous run is still pending. */
  reindexAll: () => Promise<{ queued: number; alreadyPending: boolean }>;
}

/** Operators' routes under /api/admin: dead-lettered jobs, retrying one, reindexing every market. */
export function createAdminModule(deps: Deps) {
  return defineModule({
    routes: async (app) => {
      await app.register(jobsAdminRoutes(deps), { prefix: '/api/admin' });
    },
  });
}
