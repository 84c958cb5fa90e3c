import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from './config/env.ts';
import type { Database } from './db/database.ts';
import { fastSerializerCompiler } from './lib/fast-serializer.ts';
import { createAuthenticator } from './modules/auth/authenticator.ts';
import { registerAuth } from './modules/auth/index.ts';
import { createExternalTokenVerifier } from './modules/auth/jwks.ts';
import { createTokenService } from './modules/auth/tokens.ts';
import { healthRoutes } from './modules/health/health.routes.ts';
import { registerMarkets } from './modules/markets/index.ts';
import { createApiKeyRepository } from './modules/users/api-keys.repository.ts';
import { registerUsers } from './modules/users/index.ts';
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

  await app.register(requestContextPlugin);
  await app.register(errorHandlerPlugin);
  await app.register(openapiPlugin, { docsEnabled: config.DOCS_ENABLED });
  await app.register(authPlugin, {
    authenticator: createAuthenticator({ tokens, external, users, apiKeys }),
  });

  await app.register(healthRoutes(database));
  await registerAuth(app, { config, database, users, tokens });
  await registerUsers(app, { users, apiKeys });
  await registerMarkets(app, { database, users });

  app.addHook('onClose', async () => {
    await database.close();
  });
  return app;
}
