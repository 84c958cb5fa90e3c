import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from './config/env.ts';
import type { Database } from './db/database.ts';
import { centsOf } from './domain/money.ts';
import { withCircuitBreaker } from './lib/cache/breaker-cache.ts';
import { type Cache, createCacheAside } from './lib/cache/cache.ts';
import { createMemoryCache } from './lib/cache/memory-cache.ts';
import { createRedisCache } from './lib/cache/redis-cache.ts';
import { createEmbedder } from './lib/embeddings/embedder.ts';
import { fastSerializerCompiler } from './lib/fast-serializer.ts';
import { createJobQueue, jobQueueOptions } from './lib/jobs/queue.ts';
import { createLogger } from './lib/logger.ts';
import { closeRedis, createRedisClient, redisCircuitBreaker, waitUntilReady } from './lib/redis.ts';
import { jobsAdminRoutes } from './modules/admin/jobs.routes.ts';
import { createAuthenticator } from './modules/auth/authenticator.ts';
import { createCallerResolver } from './modules/auth/caller.ts';
import { registerAuth } from './modules/auth/index.ts';
import { createExternalTokenVerifier } from './modules/auth/jwks.ts';
import { createTokenService } from './modules/auth/tokens.ts';
import { registerComments } from './modules/comments/index.ts';
import { createEventRepository } from './modules/events/events.repository.ts';
import { healthRoutes } from './modules/health/health.routes.ts';
import { createCachedMarketRepository } from './modules/markets/cached-markets.repository.ts';
import { createCloseAnnouncer } from './modules/markets/close-announcer.ts';
import { registerMarkets } from './modules/markets/index.ts';
import { startMarketCacheFollower } from './modules/markets/market-cache-follower.ts';
import { createMarketRepository } from './modules/markets/markets.repository.ts';
import { createSearchModule } from './modules/search/index.ts';
import { registerStreams } from './modules/streams/index.ts';
import { createTradingModule } from './modules/trading/index.ts';
import { createApiKeyRepository } from './modules/users/api-keys.repository.ts';
import { registerUsers } from './modules/users/index.ts';
import { createUserRepository } from './modules/users/users.repository.ts';
import { webPageRoutes } from './modules/web/web-page.routes.ts';
import { createWebhooksModule } from './modules/webhooks/index.ts';
import { authPlugin } from './plugins/auth.ts';
import { cacheControlPlugin } from './plugins/cache-control.ts';
import { connectionLimitsOptions } from './plugins/connection-limits.ts';
import { errorHandlerPlugin, frameworkErrorHandler } from './plugins/error-handler.ts';
import { clientErrorHandler, frameworkRefusalsPlugin } from './plugins/framework-refusals.ts';
import { gracefulClosePlugin } from './plugins/graceful-close.ts';
import { metricsPlugin } from './plugins/metrics.ts';
import { openapiPlugin } from './plugins/openapi.ts';
import { callerIdentity, clientIpKey, rateLimitPlugin } from './plugins/rate-limit.ts';
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
 * The composition root: builds the whole service from its dependencies. Listening is server.ts's
 * job, and the caller, who opened the database, closes it after `app.close()` has let in-flight
 * requests finish (Fastify runs onClose hooks before the HTTP server has drained).
 */
export async function buildApp({ config, database, jwtSecret, logger }: AppDeps): Promise<FastifyInstance> {
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

  const events = createEventRepository(database.db);
  const users = createUserRepository(database.db, { signupGrantCents: centsOf(config.SIGNUP_GRANT) });
  const apiKeys = createApiKeyRepository(database.db);
  const tokens = createTokenService(jwtSecret, config.JWT_TTL_SECONDS);
  const external =
    config.JWT_JWKS_URL && config.JWT_ISSUER && config.JWT_AUDIENCE
      ? createExternalTokenVerifier({
          jwksUrl: config.JWT_JWKS_URL,
          issuer: config.JWT_ISSUER,
          audience: config.JWT_AUDIENCE,
          roleClaim: config.JWT_ROLE_CLAIM,
          cooldownMs: config.JWT_JWKS_COOLDOWN_MS,
        })
      : undefined;

  // One authentication per request, shared by the rate limiter (whose budget to charge) and the auth hook.
  const resolveCaller = createCallerResolver(createAuthenticator({ tokens, external, users, apiKeys }));
  const identify = callerIdentity(tokens, resolveCaller);

  // With REDIS_URL the cache and the rate-limit counters are shared by every instance; without, in process.
  const redis = config.REDIS_URL
    ? createRedisClient(config.REDIS_URL, app.log, { commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS })
    : undefined;
  if (redis && !(await waitUntilReady(redis, 2000))) {
    app.log.warn('redis is not reachable at start: serving from the database until it is');
  }
  // One circuit for Redis, shared by the cache and the rate limiter: a hung Redis is skipped like a down one.
  const redisBreaker = redis
    ? redisCircuitBreaker(redis, app.log, { coolDownMs: config.REDIS_CIRCUIT_COOL_DOWN_MS })
    : undefined;
  const cacheStore: Cache =
    redis && redisBreaker
      ? withCircuitBreaker(createRedisCache(redis, `${config.REDIS_KEY_PREFIX}cache:`), redisBreaker)
      : createMemoryCache();
  // The embedder is built here so that its circuit (if it has one) shows in /metrics and /readyz.
  const embedder = createEmbedder(config, app.log);
  const breakers = [redisBreaker, embedder.breaker].filter((breaker) => breaker !== undefined);
  // Redis can miss a delete (an outage, a restore from a snapshot): the event log follower makes up for it.
  const cache = createCacheAside(cacheStore, { log: app.log, followed: cacheStore.kind === 'redis' });
  // The seed's CachedMarketRepository: cache-aside reads over the PostgreSQL repository.
  // Cache fills read the primary; pages the cache does not hold are read from a replica (if any).
  const markets = createCachedMarketRepository(
    createMarketRepository(database.db),
    cache,
    { rowSeconds: config.CACHE_TTL_SECONDS, listSeconds: config.LIST_CACHE_TTL_SECONDS },
    createMarketRepository(database.read),
  );

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
    identify,
  });
  let streams: Awaited<ReturnType<typeof registerStreams>> | undefined;
  await app.register(metricsPlugin, {
    database,
    openStreams: () => streams?.hub.size ?? 0,
    cacheStats: cache.stats,
    breakers,
    access: config.METRICS_TOKEN
      ? { token: config.METRICS_TOKEN }
      : config.NODE_ENV === 'production'
        ? 'off'
        : 'public',
  });
  await app.register(authPlugin, { resolveCaller });

  const queue = await createJobQueue(database, jobQueueOptions(config, app.log));
  const search = await createSearchModule({ database, config, queue, log: app.log, embedder }).catch(
    async (error) => {
      await queue.stop(0); // its timers would keep a failed start's process alive
      throw error;
    },
  );

  await app.register(healthRoutes({ database, cache, breakers, draining: app.draining }));
  await registerAuth(app, { config, database, users, tokens });
  await registerUsers(app, {
    users,
    apiKeys,
    profiles: createUserRepository(database.read, { signupGrantCents: centsOf(config.SIGNUP_GRANT) }),
  });
  // After a commit that changed a market, other modules drop what the cache holds of it.
  const onMarketChanged = (marketId: string) => markets.invalidate(marketId);
  const trading = createTradingModule({ database, markets, events, onMarketChanged, config, log: app.log });
  const marketsService = await registerMarkets(app, {
    database,
    markets,
    users,
    funding: trading.trading,
    events,
    defaultLiquidity: centsOf(config.DEFAULT_LIQUIDITY),
    deadlineMs: config.WRITE_DEADLINE_MS,
    onMarketChanged,
    // Indexing is enqueued in the same transaction as the write it follows: a crash cannot lose it.
    indexing: search.indexing.enqueue,
  });
  await registerComments(app, { database, config, markets, events });
  streams = await registerStreams(app, {
    database,
    config,
    markets: marketsService,
    clientOf: async (request) => (await identify(request)) ?? clientIpKey(request),
  });
  await app.register(search.routes, { prefix: '/api/markets' });
  await app.register(jobsAdminRoutes({ queue, reindexAll: search.indexing.reindexAll }), {
    prefix: '/api/admin',
  });
  await trading.register(app);
  // The page at / that shows all this to a person (src/web/), through the public API above.
  await app.register(webPageRoutes);
  const webhooks = createWebhooksModule({ database, config, queue, log: app.log });
  await webhooks.register(app);
  if (config.WORKERS) await search.startWorkers();
  const webhookDispatcher = config.WORKERS ? await webhooks.startWorkers() : undefined;
  const maintenance = trading.startMaintenance();
  // A market whose close time passed gets its market.closed event (any number of processes may sweep).
  const closes = config.WORKERS
    ? createCloseAnnouncer({ db: database.db, markets, events, onMarketChanged }).start(
        config.MARKET_CLOSE_INTERVAL_MS,
        app.log,
      )
    : undefined;
  const follower =
    cache.kind === 'redis'
      ? startMarketCacheFollower({
          cache,
          events,
          markets,
          intervalMs: config.CACHE_FOLLOW_INTERVAL_MS,
          log: app.log,
        })
      : undefined;

  // Runs after the HTTP server has closed: trades still queued for clients that already left finish first.
  app.addHook('onClose', () => trading.trading.idle());
  app.addHook('onClose', () => maintenance.stop());
  app.addHook('onClose', async () => closes?.stop());
  app.addHook('onClose', () => {
    for (const breaker of breakers) breaker.stop();
  });
  app.addHook('onClose', async () => follower?.stop());
  app.addHook('onClose', async () => webhookDispatcher?.stop());
  app.addHook('onClose', async () => {
    // Workers get half the shutdown budget for running jobs; then the connections they use go.
    await queue.stop(config.SHUTDOWN_TIMEOUT_MS / 2);
    if (redis) await closeRedis(redis);
  });

  return app;
}
