import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from './config/env.ts';
import type { Database } from './db/database.ts';
import { type Cache, createCacheAside } from './lib/cache/cache.ts';
import { createMemoryCache } from './lib/cache/memory-cache.ts';
import { createRedisCache } from './lib/cache/redis-cache.ts';
import { fastSerializerCompiler } from './lib/fast-serializer.ts';
import { closeRedis, createRedisClient, waitUntilReady } from './lib/redis.ts';
import { createTokenService } from './modules/auth/tokens.ts';
import { healthRoutes } from './modules/health/health.routes.ts';
import { registerMarkets } from './modules/markets/index.ts';
import { createUserRepository } from './modules/users/users.repository.ts';
import { authPlugin } from './plugins/auth.ts';
import { errorHandlerPlugin } from './plugins/error-handler.ts';
import { metricsPlugin } from './plugins/metrics.ts';
import { openapiPlugin } from './plugins/openapi.ts';
import { bearerIdentity, rateLimitPlugin } from './plugins/rate-limit.ts';
import { LOG_REDACT_PATHS, requestContextPlugin, requestIdOptions } from './plugins/request-context.ts';

export interface AppDeps {
  config: Config;
  database: Database;
  jwtSecret: string;
  /** A logger to write to (tests pass one that records); otherwise pino on stdout at LOG_LEVEL. */
  logger?: FastifyBaseLogger;
}

/** The composition root: builds the whole service from its dependencies. Listening is server.ts's job. */
export async function buildApp({ config, database, jwtSecret, logger }: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(logger
      ? { loggerInstance: logger }
      : { logger: { level: config.LOG_LEVEL, redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' } } }),
    ...requestIdOptions(),
    bodyLimit: config.BODY_LIMIT,
    trustProxy: config.TRUST_PROXY ? config.TRUST_PROXY.split(',').map((s) => s.trim()) : false,
    routerOptions: { maxParamLength: 200 },
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(fastSerializerCompiler);

  const users = createUserRepository(database.db);
  const tokens = createTokenService(jwtSecret, config.JWT_TTL_SECONDS);

  // With REDIS_URL the cache and the rate-limit counters are shared by every instance; without, in process.
  const redis = config.REDIS_URL ? createRedisClient(config.REDIS_URL, app.log) : undefined;
  if (redis && !(await waitUntilReady(redis, 2000))) {
    app.log.warn('redis is not reachable at start: serving from the database until it is');
  }
  const cacheStore: Cache = redis
    ? createRedisCache(redis, `${config.REDIS_KEY_PREFIX}cache:`)
    : createMemoryCache();
  const cache = createCacheAside(cacheStore, { log: app.log });

  await app.register(requestContextPlugin);
  await app.register(errorHandlerPlugin);
  await app.register(openapiPlugin, { docsEnabled: config.DOCS_ENABLED });
  // Before any route it limits: it attaches itself to routes as they are added.
  await app.register(rateLimitPlugin, {
    config,
    redis,
    namespace: `${config.REDIS_KEY_PREFIX}rate-limit:`,
    identify: bearerIdentity(tokens),
  });
  await app.register(metricsPlugin, { database, cacheStats: cache.stats });
  await app.register(authPlugin, { tokens, users });

  await app.register(healthRoutes({ database, cache }));
  await registerMarkets(app, { database, users, cache, config });

  app.addHook('onClose', async () => {
    if (redis) await closeRedis(redis);
    await database.close();
  });
  return app;
}
