import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/database.ts';
import { errorEnvelope } from '../../lib/http-schemas.ts';

const health = z.object({
  status: z.enum(['ok', 'degraded', 'unavailable']),
  checks: z.record(z.string(), z.string()),
});

export interface HealthDeps {
  database: Pick<Database, 'ping'>;
  /** The cache is optional for serving (reads fall back to the database): down = degraded, not unready. */
  cache: { ping(): Promise<void> };
  /** Aborted once the instance drains before stopping: it is then unready whatever its dependencies say. */
  draining: AbortSignal;
}

/** Probes: /healthz says the process is up; /readyz that its dependencies answer. Never rate limited. */
export function healthRoutes({ database, cache, draining }: HealthDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/healthz',
      { config: { rateLimit: false }, schema: { tags: ['probes'], response: { 200: health } } },
      async () => ({ status: 'ok' as const, checks: {} }),
    );

    app.get(
      '/readyz',
      {
        config: { rateLimit: false },
        schema: { tags: ['probes'], response: { 200: health, 503: z.union([health, errorEnvelope]) } },
      },
      async (request, reply) => {
        // Not an error to log: the balancer must stop sending here while the instance still serves.
        if (draining.aborted) {
          return reply.status(503).send({
            success: false as const,
            error: 'Draining: this instance is shutting down, use another',
            code: 'DRAINING',
            requestId: request.id,
          });
        }
        const [db, cacheFailure] = await Promise.all([
          pingWithin(() => database.ping(), 2000),
          pingWithin(() => cache.ping(), 1000),
        ]);
        // Reasons go to the log: a public probe must not reveal hosts or driver messages.
        if (db) request.log.warn({ err: db }, 'readiness check failed: database');
        if (cacheFailure) request.log.warn({ err: cacheFailure }, 'readiness check degraded: cache');
        const status = db ? 'unavailable' : cacheFailure ? 'degraded' : 'ok';
        return reply.status(db ? 503 : 200).send({
          status,
          checks: { database: db ? 'unavailable' : 'ok', cache: cacheFailure ? 'degraded' : 'ok' },
        });
      },
    );
  };
}

/** Undefined when the ping answered within `ms`; otherwise why it did not. */
async function pingWithin(ping: () => Promise<void>, ms: number): Promise<Error | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
    return undefined;
  } catch (error) {
    return error as Error;
  } finally {
    clearTimeout(timer);
  }
}
