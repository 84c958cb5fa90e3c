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
      async (_request, reply) => {
        const db = await pingWithin(() => database.ping(), 2000);
        const ok = db === 'ok';
        return reply
          .status(ok ? 200 : 503)
          .send({ status: ok ? 'ok' : 'unavailable', checks: { database: db } });
      },
    );
  };
}

async function pingWithin(ping: () => Promise<void>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), ms);
      }),
    ]);
    return 'ok';
  } catch (error) {
    return `error: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}
