import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from './config/env.ts';
import type { Database } from './db/database.ts';
import { fastSerializerCompiler } from './lib/fast-serializer.ts';
import { createJobQueue, jobQueueOptions } from './lib/jobs/queue.ts';
import { jobsAdminRoutes } from './modules/admin/jobs.routes.ts';
import { createTokenService } from './modules/auth/tokens.ts';
import { healthRoutes } from './modules/health/health.routes.ts';
import { registerMarkets } from './modules/markets/index.ts';
import { createSearchModule } from './modules/search/index.ts';
import { createUserRepository } from './modules/users/users.repository.ts';
import { authPlugin } from './plugins/auth.ts';
import { errorHandlerPlugin } from './plugins/error-handler.ts';
import { openapiPlugin } from './plugins/openapi.ts';
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

  await app.register(requestContextPlugin);
  await app.register(errorHandlerPlugin);
  await app.register(openapiPlugin, { docsEnabled: config.DOCS_ENABLED });
  await app.register(authPlugin, { tokens, users });

  const queue = await createJobQueue(database, jobQueueOptions(config, app.log));
  const search = await createSearchModule({ database, config, queue, log: app.log }).catch(async (error) => {
    await queue.stop(0); // its timers would keep a failed start's process alive
    throw error;
  });

  await app.register(healthRoutes(database));
  await registerMarkets(app, { database, users, afterWrite: search.indexing.enqueue });
  await app.register(search.routes, { prefix: '/api/markets' });
  await app.register(jobsAdminRoutes({ queue, reindexAll: search.indexing.reindexAll }), {
    prefix: '/api/admin',
  });
  if (config.WORKERS) await search.startWorkers();

  app.addHook('onClose', async () => {
    // Workers first (running jobs get half the shutdown budget), then the database they use.
    await queue.stop(config.SHUTDOWN_TIMEOUT_MS / 2);
    await database.close();
  });
  return app;
}
