import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/database.ts';

const health = z.object({
  status: z.enum(['ok', 'degraded', 'unavailable']),
  checks: z.record(z.string(), z.string()),
});

export interface HealthDeps {
  database: Pick<Database, 'ping'>;
  /** The cache is optional for serving (reads fall back to the database): down = degraded, not unready. */
  cache: { ping(): Promise<void> };
}

/** Probes: /healthz says the process is up; /readyz that its dependencies answer. Never rate limited. */
export function healthRoutes({ database, cache }: HealthDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/healthz',
      { config: { rateLimit: false }, schema: { tags: ['probes'], response: { 200: health } } },
      async () => ({ status: 'ok' as const, checks: {} }),
    );

    app.get(
      '/readyz',
      { config: { rateLimit: false }, schema: { tags: ['probes'], response: { 200: health, 503: health } } },
      async (_request, reply) => {
        const [db, cacheCheck] = await Promise.all([
          pingWithin(() => database.ping(), 2000),
          pingWithin(() => cache.ping(), 1000),
        ]);
        const status = db !== 'ok' ? 'unavailable' : cacheCheck !== 'ok' ? 'degraded' : 'ok';
        return reply.status(status === 'unavailable' ? 503 : 200).send({
          status,
          checks: { database: db, cache: cacheCheck === 'ok' ? 'ok' : `degraded (${cacheCheck})` },
        });
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
