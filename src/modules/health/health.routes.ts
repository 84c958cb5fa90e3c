import type { FastifyBaseLogger } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../../db/database.ts';
import type { ReplicaStatus } from '../../db/read-replicas.ts';
import type { CircuitBreaker } from '../../lib/circuit-breaker.ts';
import { errorEnvelope } from '../../lib/http-schemas.ts';

const health = z.object({
  status: z.enum(['ok', 'degraded', 'unavailable']),
  checks: z.record(z.string(), z.string()),
  /** Each guarded dependency's circuit: open = calls skip it and take their fallback. */
  circuits: z.record(z.string(), z.enum(['closed', 'open'])).optional(),
  /** Each read replica (replica-1…): up serves reads; starting, lagging and down are skipped. */
  replicas: z.record(z.string(), z.enum(['starting', 'up', 'lagging', 'down'])).optional(),
});

export interface HealthDeps {
  /** A read replica down or lagging is degraded: its reads go to the primary. */
  database: Pick<Database, 'ping' | 'replicas'>;
  /** The cache is optional for serving (reads fall back to the database): down = degraded, not unready. */
  cache: { ping(): Promise<void> };
  breakers?: readonly Pick<CircuitBreaker, 'name' | 'state'>[];
  /** Aborted once the instance drains before stopping: it is then unready whatever its dependencies say. */
  draining: AbortSignal;
}

/**
 * Logs a check's changes only (failing, then answering again): orchestrators probe every few
 * seconds, and a line per probe during an outage buries everything else.
 */
function changeLogger(check: string, failedAs: 'failed' | 'degraded') {
  let failing = false;
  return (log: FastifyBaseLogger, error: Error | undefined) => {
    if ((error !== undefined) === failing) return;
    failing = error !== undefined;
    if (error)
      log.warn(
        { err: error, check },
        `readiness check ${failedAs}: ${check} (logged once until it recovers)`,
      );
    else log.info({ check }, `readiness check recovered: ${check}`);
  };
}

/** Probes: /healthz says the process is up; /readyz that its dependencies answer. Never rate limited. */
export function healthRoutes({
  database,
  cache,
  breakers = [],
  draining,
}: HealthDeps): FastifyPluginAsyncZod {
  const logDatabase = changeLogger('database', 'failed');
  const logCache = changeLogger('cache', 'degraded');
  const replicaLoggers = new Map<string, ReturnType<typeof changeLogger>>();
  const logReplica = (log: FastifyBaseLogger, replica: ReplicaStatus) => {
    let logger = replicaLoggers.get(replica.name);
    if (!logger) {
      logger = changeLogger(replica.name, 'degraded');
      replicaLoggers.set(replica.name, logger);
    }
    logger(log, replica.state === 'up' ? undefined : new Error(`read replica is ${replica.state}`));
  };
  return async (app) => {
    app.get(
      '/healthz',
      {
        config: { rateLimit: false },
        schema: {
          tags: ['probes'],
          summary: 'Liveness: the process is up',
          description:
            'Answers 200 as long as the process runs, whatever its dependencies do: restart the instance only when this fails. Public, never rate limited.',
          response: { 200: health },
        },
      },
      async () => ({ status: 'ok' as const, checks: {} }),
    );

    app.get(
      '/readyz',
      {
        config: { rateLimit: false },
        schema: {
          tags: ['probes'],
          summary: 'Readiness: send traffic here',
          description:
            'Answers 200 while the database answers (a Redis outage only degrades it); 503 while a dependency is down, with `checks` naming it, and while the instance drains before a shutdown (`code: DRAINING`): take it out of rotation, do not restart it. Public, never rate limited.',
          response: {
            200: health,
            503: z
              .union([health, errorEnvelope])
              .describe('Not ready: a dependency is down (see `checks`), or the instance is draining'),
          },
        },
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
        logDatabase(request.log, db);
        logCache(request.log, cacheFailure);
        // The probe in the database adapter keeps these current: reading them costs no round trip.
        const replicas = database.replicas();
        for (const replica of replicas) logReplica(request.log, replica);
        const replicaDegraded = replicas.some((replica) => replica.state !== 'up');
        const status = db ? 'unavailable' : cacheFailure || replicaDegraded ? 'degraded' : 'ok';
        return reply.status(db ? 503 : 200).send({
          status,
          checks: {
            database: db ? 'unavailable' : 'ok',
            cache: cacheFailure ? 'degraded' : 'ok',
            ...Object.fromEntries(
              replicas.map((replica) => [replica.name, replica.state === 'up' ? 'ok' : 'degraded']),
            ),
          },
          ...(replicas.length > 0 && {
            replicas: Object.fromEntries(replicas.map((replica) => [replica.name, replica.state])),
          }),
          ...(breakers.length > 0 && {
            circuits: Object.fromEntries(breakers.map((breaker) => [breaker.name, breaker.state])),
          }),
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
