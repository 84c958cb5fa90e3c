import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from '../db/database.ts';
import type { CacheStats } from '../lib/cache/cache.ts';
import type { CircuitBreaker } from '../lib/circuit-breaker.ts';
import { ApiError } from '../lib/errors.ts';

export interface MetricsDeps {
  database: Pick<Database, 'stats' | 'replicas'>;
  cacheStats: CacheStats;
  /** Circuit breakers of the dependencies (Redis, the embeddings provider). */
  breakers?: readonly Pick<CircuitBreaker, 'name' | 'state' | 'opened'>[];
  /** `public`, `off` (not served), or a bearer token a scraper must send. */
  access: 'public' | 'off' | { token: string };
  /** Event streams open on this instance. */
  openStreams?: () => number;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** A constant-time check of `Authorization: Bearer <token>` (digests make the lengths equal). */
function bearerCheck(token: string) {
  const expected = digest(token);
  return async (request: FastifyRequest) => {
    const sent = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (sent === undefined || !timingSafeEqual(digest(sent), expected)) {
      throw ApiError.unauthorized('/metrics needs Authorization: Bearer <METRICS_TOKEN>');
    }
  };
}

/**
 * GET /metrics in Prometheus text format: per-route request count and latency, cache hits, misses
 * and errors, database statements, and Node's process metrics. One registry per app (no global).
 */
export const metricsPlugin = fp(
  async (app: FastifyInstance, { database, cacheStats, breakers = [], access, openStreams }: MetricsDeps) => {
    if (access === 'off') {
      app.log.info('/metrics is not served: set METRICS_TOKEN to serve it in production');
      return;
    }
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });

    const labelNames = ['method', 'route', 'status'] as const;
    const requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered, by route template and status',
      labelNames,
      registers: [registry],
    });
    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time to answer HTTP requests, by route template and status',
      labelNames,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    });

    // Counters kept elsewhere, read at scrape time.
    const mirror = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    mirror('cache_hits_total', 'Cache-aside reads answered by the cache', () => cacheStats.hits);
    mirror('cache_misses_total', 'Cache-aside reads that went to the database', () => cacheStats.misses);
    mirror(
      'cache_errors_total',
      'Cache operations that failed (served from the database)',
      () => cacheStats.errors,
    );
    mirror('db_queries_total', 'SQL statements executed', () => database.stats.queries);
    const replicaStates = ['starting', 'up', 'lagging', 'down'] as const;
    new Gauge({
      name: 'db_replica_state',
      help: 'Each read replica: 1 for its current state (up = serving reads; lagging, down = skipped)',
      labelNames: ['replica', 'state'],
      registers: [registry],
      collect() {
        for (const replica of database.replicas())
          for (const state of replicaStates)
            this.set({ replica: replica.name, state }, replica.state === state ? 1 : 0);
      },
    });
    new Gauge({
      name: 'db_replica_lag_seconds',
      help: 'How far behind the primary each read replica was at its last probe (absent while it is down)',
      labelNames: ['replica'],
      registers: [registry],
      collect() {
        this.reset();
        for (const replica of database.replicas())
          if (replica.lagMs !== undefined) this.set({ replica: replica.name }, replica.lagMs / 1000);
      },
    });
    new Counter({
      name: 'db_replica_reads_total',
      help: 'Statements each read replica served, and those that failed there and ran on the primary',
      labelNames: ['replica', 'outcome'],
      registers: [registry],
      collect() {
        this.reset();
        for (const replica of database.replicas()) {
          this.inc({ replica: replica.name, outcome: 'served' }, replica.reads);
          this.inc({ replica: replica.name, outcome: 'fell_back' }, replica.fallbacks);
        }
      },
    });
    new Gauge({
      name: 'circuit_breaker_open',
      help: 'Whether calls to the dependency are skipped (1) or made (0)',
      labelNames: ['dependency'],
      registers: [registry],
      collect() {
        for (const breaker of breakers)
          this.set({ dependency: breaker.name }, breaker.state === 'open' ? 1 : 0);
      },
    });
    new Counter({
      name: 'circuit_breaker_opened_total',
      help: 'Times the dependency timed out or kept failing and its circuit opened',
      labelNames: ['dependency'],
      registers: [registry],
      collect() {
        this.reset();
        for (const breaker of breakers) this.inc({ dependency: breaker.name }, breaker.opened);
      },
    });

    new Gauge({
      name: 'event_streams_open',
      help: 'Server-Sent Event streams open on this instance',
      registers: [registry],
      collect() {
        this.set(openStreams?.() ?? 0);
      },
    });

    app.addHook('onResponse', (request, reply, done) => {
      const { url, config } = request.routeOptions;
      // The route template, not the URL, keeps the label set small; unknown URLs share one label.
      const labels = { method: request.method, route: url ?? 'not-found', status: String(reply.statusCode) };
      requests.inc(labels);
      // A stream's duration is how long its client watched, not a latency.
      if (!config.longLived) duration.observe(labels, reply.elapsedTime / 1000);
      done();
    });

    app.get(
      '/metrics',
      {
        config: { rateLimit: false },
        schema: {
          tags: ['probes'],
          summary: 'Prometheus metrics',
          description:
            'Request, database, cache, job and process metrics in the Prometheus text format. With METRICS_TOKEN set it wants `Authorization: Bearer <METRICS_TOKEN>`; unset, it is public, and not served at all when NODE_ENV=production.',
        },
        ...(access !== 'public' && { onRequest: bearerCheck(access.token) }),
      },
      async (_request, reply) => {
        reply.type(registry.contentType);
        return registry.metrics();
      },
    );
  },
  { name: 'metrics', dependencies: ['error-handler'] },
);
