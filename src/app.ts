import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from './config/env.ts';
import type { Database } from './db/database.ts';
import { centsOf } from './domain/money.ts';
import { withCircuitBreaker } from './lib/cache/breaker-cache.ts';
import { type Cache, type CacheAside, createCacheAside } from './lib/cache/cache.ts';
import { createMemoryCache } from './lib/cache/memory-cache.ts';
import { createRedisCache } from './lib/cache/redis-cache.ts';
import type { CircuitBreaker } from './lib/circuit-breaker.ts';
import { createEmbedder, type Embedder } from './lib/embeddings/embedder.ts';
import { fastSerializerCompiler } from './lib/fast-serializer.ts';
import { createJobQueue, type JobQueue, jobQueueOptions } from './lib/jobs/queue.ts';
import { createLogger } from './lib/logger.ts';
import { closeRedis, createRedisClient, redisCircuitBreaker, waitUntilReady } from './lib/redis.ts';
import { createAdminModule } from './modules/admin/index.ts';
import { createAuthModule } from './modules/auth/index.ts';
import { createCommentsModule } from './modules/comments/index.ts';
import { createEventsModule } from './modules/events/index.ts';
import { createHealthModule } from './modules/health/index.ts';
import { createLeaderboardModule } from './modules/leaderboard/index.ts';
import { createMarketStore, createMarketsModule } from './modules/markets/index.ts';
import { type Module, startBackgroundWork } from './modules/module.ts';
import { createSearchModule } from './modules/search/index.ts';
import { createStreamsModule } from './modules/streams/index.ts';
import { createTradingModule } from './modules/trading/index.ts';
import { createUsersModule } from './modules/users/index.ts';
import { createWebModule } from './modules/web/index.ts';
import { createWebhooksModule } from './modules/webhooks/index.ts';
import { authPlugin } from './plugins/auth.ts';
import { cacheControlPlugin } from './plugins/cache-control.ts';
import { connectionLimitsOptions } from './plugins/connection-limits.ts';
import { errorHandlerPlugin, frameworkErrorHandler } from './plugins/error-handler.ts';
import { clientErrorHandler, frameworkRefusalsPlugin } from './plugins/framework-refusals.ts';
import { gracefulClosePlugin } from './plugins/graceful-close.ts';
import { metricsPlugin } from './plugins/metrics.ts';
import { openapiPlugin } from './plugins/openapi.ts';
import { clientIpKey, rateLimitPlugin } from './plugins/rate-limit.ts';
import { readConsistencyPlugin } from './plugins/read-consistency.ts';
import { requestContextPlugin, requestIdOptions } from './plugins/request-context.ts';
import { securityHeadersPlugin } from './plugins/security-headers.ts';

export interface AppDeps {
  config: Config;
  database: Database;
  jwtSecret: string;
  /** A logger to write to (tests pass one that records); otherwise pino on stdout at LOG_LEVEL. */
  logger?: FastifyBaseLogger;
}

/**
 * The composition root: builds the whole service from its dependencies, in this order:
 * infrastructure → the modules the plugins need → cross-cutting plugins → the queue and the other
 * modules → every module's routes → background work (where WORKERS) → close hooks. Listening is
 * server.ts's job, and the caller, who opened the database, closes it after `app.close()` has let
 * in-flight requests finish (Fastify runs onClose hooks before the HTTP server has drained).
 */
export async function buildApp({ config, database, jwtSecret, logger }: AppDeps): Promise<FastifyInstance> {
  const app = createServer(config, logger);
  const log = app.log;

  // Infrastructure. With REDIS_URL the cache and the rate-limit counters are shared by every
  // instance; without, in process. One circuit for Redis, shared by both: a hung Redis is skipped
  // like a down one. The embedder is built here so that its circuit shows in /metrics and /readyz.
  const redis = await connectRedis(config, log);
  const redisBreaker = redis
    ? redisCircuitBreaker(redis, log, { coolDownMs: config.REDIS_CIRCUIT_COOL_DOWN_MS })
    : undefined;
  const cacheStore: Cache =
    redis && redisBreaker
      ? withCircuitBreaker(createRedisCache(redis, `${config.REDIS_KEY_PREFIX}cache:`), redisBreaker)
      : createMemoryCache();
  // Redis can miss a delete (an outage, a restore from a snapshot): the event log follower makes up for it.
  const cache = createCacheAside(cacheStore, { log, followed: cacheStore.kind === 'redis' });
  const embedder = createEmbedder(config, log);
  const breakers = [redisBreaker, embedder.breaker].filter((breaker) => breaker !== undefined);

  // The modules the plugins need: who is calling (auth), from the accounts (users).
  const users = createUsersModule({ database, signupGrantCents: centsOf(config.SIGNUP_GRANT) });
  const auth = createAuthModule({ config, database, users: users.users, apiKeys: users.apiKeys, jwtSecret });
  let openStreams = () => 0;

  await app.register(requestContextPlugin);
  await app.register(gracefulClosePlugin);
  await app.register(errorHandlerPlugin);
  // Before any route reads: a request's consistency token holds its reads to the write it follows.
  await app.register(readConsistencyPlugin, { database });
  // Before any route (/docs gets its own content security policy as its routes are added) and
  // before any hook that may refuse a request, so that refusals carry the headers too.
  await app.register(securityHeadersPlugin, { corsOrigins: config.CORS_ORIGINS ?? [] });
  await app.register(cacheControlPlugin);
  await app.register(frameworkRefusalsPlugin);
  await app.register(openapiPlugin, { docsEnabled: config.DOCS_ENABLED });
  // Before any route it limits: it attaches itself to routes as they are added.
  await app.register(rateLimitPlugin, {
    config,
    redis,
    redisBreaker,
    namespace: `${config.REDIS_KEY_PREFIX}rate-limit:`,
    identify: auth.identify,
  });
  await app.register(metricsPlugin, {
    database,
    openStreams: () => openStreams(),
    cacheStats: cache.stats,
    breakers,
    access: metricsAccess(config),
  });
  await app.register(authPlugin, { resolveCaller: auth.resolveCaller });

  // The queue, then the other modules. Each takes only what it uses; see src/modules/module.ts.
  const queue = await createJobQueue(database, jobQueueOptions(config, log, config.WORKERS));
  const modules = await createModules({
    config,
    database,
    log,
    cache,
    embedder,
    breakers,
    queue,
    users,
    auth,
    draining: app.draining,
  }).catch(async (error) => {
    await queue.stop(0); // its timers would keep a failed start's process alive
    throw error;
  });
  openStreams = () => modules.streams.hub.size;

  for (const module of modules.all) if (module.routes) await app.register(module.routes);
  // Job workers, maintenance schedules (once per deployment) and sweeps run only where WORKERS is on.
  const background = config.WORKERS ? await startBackgroundWork(queue, modules.all, log) : undefined;

  // Runs after the HTTP server has closed: trades still queued for clients that already left finish
  // first (trading's onClose); workers get half the shutdown budget for running jobs, then the
  // connections they use go.
  app.addHook('onClose', async () => {
    await background?.stop();
    for (const module of modules.all) await module.onClose?.();
    for (const breaker of breakers) breaker.stop();
    await queue.stop(config.SHUTDOWN_TIMEOUT_MS / 2);
    if (redis) await closeRedis(redis);
  });

  return app;
}

interface ModulesDeps {
  config: Config;
  database: Database;
  log: FastifyBaseLogger;
  cache: CacheAside;
  embedder: Embedder;
  breakers: readonly CircuitBreaker[];
  queue: JobQueue;
  users: ReturnType<typeof createUsersModule>;
  auth: ReturnType<typeof createAuthModule>;
  draining: AbortSignal;
}

/**
 * Every module, in the order their routes are registered: the event log and the market store
 * first (the others write through them), then each module with only what it uses.
 */
async function createModules({
  config,
  database,
  log,
  cache,
  embedder,
  breakers,
  queue,
  users,
  auth,
  draining,
}: ModulesDeps) {
  const eventLog = createEventsModule({ database, config, log });
  const { events, feed } = eventLog;
  const store = createMarketStore({ database, cache, events, config, log });
  // After a commit that changed a market, other modules drop what the cache holds of it.
  const onMarketChanged = (marketId: string) => store.repository.invalidate(marketId);
  const search = await createSearchModule({ database, config, queue, log, embedder });
  const trading = createTradingModule({
    database,
    config,
    markets: store.repository,
    events,
    onMarketChanged,
    log,
  });
  const markets = createMarketsModule({
    database,
    markets: store.repository,
    users: users.users,
    funding: trading.trading,
    events,
    defaultLiquidity: centsOf(config.DEFAULT_LIQUIDITY),
    config,
    onMarketChanged,
    // Indexing is enqueued in the same transaction as the write it follows: a crash cannot lose it.
    indexing: search.indexing.enqueue,
    log,
  });
  const streams = await createStreamsModule({
    database,
    config,
    feed,
    markets: markets.service,
    clientOf: async (request) => (await auth.identify(request)) ?? clientIpKey(request),
    draining,
    log,
  });
  const all: Module[] = [
    createHealthModule({ database, cache, breakers, draining }),
    auth,
    users,
    markets,
    createCommentsModule({ database, config, markets: store.repository, events }),
    streams,
    search,
    createAdminModule({ queue, reindexAll: search.indexing.reindexAll }),
    trading,
    createLeaderboardModule({ database, config, users: users.users, cache, log }),
    // The page at / that shows all this to a person (src/web/), through the public API above.
    createWebModule(),
    createWebhooksModule({ database, config, queue, log }),
    eventLog,
    store,
  ];
  return { all, streams };
}

/** Fastify with the service's limits, request ids, error handlers and JSON-only parsing. */
function createServer(config: Config, logger: FastifyBaseLogger | undefined) {
  const app = Fastify({
    loggerInstance: logger ?? createLogger(config.LOG_LEVEL),
    ...requestIdOptions(),
    bodyLimit: config.BODY_LIMIT,
    trustProxy: config.TRUST_PROXY ? config.TRUST_PROXY.split(',').map((s) => s.trim()) : false,
    routerOptions: { maxParamLength: 200 },
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    ...connectionLimitsOptions(config),
  }).withTypeProvider<ZodTypeProvider>();
  // JSON in, JSON out: without this, Fastify parses text/plain into a string and the client
  // gets a confusing "expected object" 400 instead of a 415.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(fastSerializerCompiler);
  return app;
}

/** The Redis client when REDIS_URL is set; a Redis that is down at start is waited for no longer than 2 s. */
async function connectRedis(config: Config, log: FastifyBaseLogger) {
  if (!config.REDIS_URL) return undefined;
  const redis = createRedisClient(config.REDIS_URL, log, {
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
  });
  if (!(await waitUntilReady(redis, 2000))) {
    log.warn('redis is not reachable at start: serving from the database until it is');
  }
  return redis;
}

/** /metrics: behind METRICS_TOKEN when set; otherwise off in production and public elsewhere. */
function metricsAccess(config: Config) {
  if (config.METRICS_TOKEN) return { token: config.METRICS_TOKEN };
  return config.NODE_ENV === 'production' ? ('off' as const) : ('public' as const);
}
