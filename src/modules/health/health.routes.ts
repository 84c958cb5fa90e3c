import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/database.ts';

const health = z.object({
  status: z.enum(['ok', 'degraded', 'unavailable']),
  checks: z.record(z.string(), z.string()),
});

/** Probes: /healthz says the process is up; /readyz that its dependencies answer. */
export function healthRoutes(database: Pick<Database, 'ping'>): FastifyPluginAsyncZod {
  return async (app) => {
    app.get('/healthz', { schema: { tags: ['probes'], response: { 200: health } } }, async () => ({
      status: 'ok' as const,
      checks: {},
    }));

    app.get(
      '/readyz',
      { schema: { tags: ['probes'], response: { 200: health, 503: health } } },
      async (request, reply) => {
        const failure = await pingWithin(() => database.ping(), 2000);
        // The reason goes to the log: a public probe must not reveal hosts or driver messages.
        if (failure) request.log.warn({ err: failure }, 'readiness check failed: database');
        return reply.status(failure ? 503 : 200).send({
          status: failure ? 'unavailable' : 'ok',
          checks: { database: failure ? 'unavailable' : 'ok' },
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
