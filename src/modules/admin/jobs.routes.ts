import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiError } from '../../lib/errors.ts';
import { errorResponses, ok, uuid } from '../../lib/http-schemas.ts';
import type { JobQueue } from '../../lib/jobs/queue.ts';

interface Deps {
  queue: Pick<JobQueue, 'listDeadLetters' | 'retryDeadLetter'>;
  /** Queues every market for indexing, unless a previous run is still pending. */
  reindexAll: () => Promise<{ queued: number; alreadyPending: boolean }>;
}

const deadLetter = z
  .object({
    id: z.string(),
    queue: z.string(),
    data: z.unknown(),
    error: z.string().describe('The error of the last attempt'),
    attempts: z.number().int(),
    failedAt: z.string(),
  })
  .meta({ id: 'DeadLetterJob' });

/** Operators' view of background jobs (admin only): dead letters, retrying one, reindexing all. */
export function jobsAdminRoutes({ queue, reindexAll }: Deps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/jobs',
      {
        config: { permission: 'admin', scope: 'admin' },
        schema: {
          tags: ['admin'],
          summary: 'List jobs that exhausted their retries (the dead-letter queues)',
          querystring: z.strictObject({
            state: z.enum(['failed']).default('failed').describe('Which jobs: `failed` (dead-lettered)'),
            limit: z.coerce.number().int().min(1).max(500).default(100).describe('Jobs to return, 1–500'),
          }),
          response: { 200: ok(z.array(deadLetter)), ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => {
        const jobs = await queue.listDeadLetters(request.query.limit);
        return {
          success: true as const,
          data: jobs.map((j) => ({ ...j, failedAt: j.failedAt.toISOString() })),
        };
      },
    );

    app.post(
      '/jobs/:id/retry',
      {
        config: { permission: 'admin', scope: 'admin' },
        schema: {
          tags: ['admin'],
          summary: 'Send a dead-lettered job back to its queue with a fresh set of retries',
          params: z.object({ id: uuid.describe("The job's id, from GET /api/admin/jobs") }),
          response: {
            202: ok(z.object({ id: z.string(), requeued: z.literal(true) })),
            ...errorResponses(400, 401, 403, 404),
          },
        },
      },
      async (request, reply) => {
        if (!(await queue.retryDeadLetter(request.params.id))) throw ApiError.notFound('Dead-lettered job');
        return reply
          .status(202)
          .send({ success: true as const, data: { id: request.params.id, requeued: true as const } });
      },
    );

    app.post(
      '/reindex',
      {
        config: { permission: 'admin', scope: 'admin' },
        schema: {
          tags: ['admin'],
          summary: 'Queue every market for (re)indexing, e.g. after changing the embeddings provider',
          description:
            'Idempotent while a previous run is pending: then nothing is queued and `alreadyPending` is true.',
          response: {
            202: ok(z.object({ queued: z.number().int(), alreadyPending: z.boolean() })),
            ...errorResponses(401, 403),
          },
        },
      },
      async (_request, reply) => reply.status(202).send({ success: true as const, data: await reindexAll() }),
    );
  };
}
