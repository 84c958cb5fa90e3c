import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import { loginEmailRateLimit, loginRateLimit } from '../../plugins/rate-limit.ts';
import { defineModule } from '../module.ts';
import type { ApiKeyRepository, UserRepository } from '../users/index.ts';
import { authRoutes } from './auth.routes.ts';
import { createAuthService } from './auth.service.ts';
import { createAuthenticator } from './authenticator.ts';
import { callerIdentity, createCallerResolver } from './caller.ts';
import { createExternalTokenVerifier } from './jwks.ts';
import { createPasswordHasher } from './password.ts';
import { registrationRepository } from './registrations.repository.ts';
import { createSessionRepository } from './sessions.repository.ts';
import { createTokenService } from './tokens.ts';

export type { CallerResolver } from './caller.ts';
export {
  type Access,
  type AuthUser,
  canModify,
  hasPermission,
  rolePermissions,
  rolesWith,
} from './permissions.ts';
export { SCOPE_NAMES, SCOPES, type Scope } from './scopes.ts';

type AuthConfig = Pick<
  Config,
  | 'JWT_TTL_SECONDS'
  | 'JWT_JWKS_URL'
  | 'JWT_ISSUER'
  | 'JWT_AUDIENCE'
  | 'JWT_ROLE_CLAIM'
  | 'JWT_JWKS_COOLDOWN_MS'
  | 'REGISTRATIONS_PER_IP_PER_DAY'
  | 'SIGNUP_GRANTS_PER_IP_PER_DAY'
  | 'PASSWORD_HASH_MEMORY_KIB'
  | 'PASSWORD_HASH_ITERATIONS'
  | 'REFRESH_TOKEN_TTL_SECONDS'
  | 'LOGIN_RATE_LIMIT_PER_MINUTE'
>;

interface Deps {
  config: AuthConfig;
  database: Pick<Database, 'db'>;
  users: Pick<
    UserRepository,
    | 'create'
    | 'findCredentials'
    | 'findById'
    | 'findByExternalId'
    | 'linkExternalByEmail'
    | 'createExternal'
    | 'changeRole'
  >;
  apiKeys: Pick<ApiKeyRepository, 'authenticate'>;
  jwtSecret: string;
}

/**
 * Wires authentication: tokens (ours, and an identity provider's when JWT_JWKS_URL is set), API
 * keys, one caller lookup per request, and sign-in (sessions + password hasher → auth service →
 * /api/auth routes). `resolveCaller` is what the auth plugin enforces permissions with; `identify`
 * is whose budget the rate limiter charges. Both share one authentication per request.
 */
export function createAuthModule({ config, database, users, apiKeys, jwtSecret }: Deps) {
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
  const resolveCaller = createCallerResolver(createAuthenticator({ tokens, external, users, apiKeys }));
  const service = createAuthService({
    db: database.db,
    users,
    registrations: registrationRepository,
    signupLimits: {
      perDay: config.REGISTRATIONS_PER_IP_PER_DAY,
      grantsPerDay: config.SIGNUP_GRANTS_PER_IP_PER_DAY,
    },
    sessions: createSessionRepository(database.db),
    passwords: createPasswordHasher({
      memoryKib: config.PASSWORD_HASH_MEMORY_KIB,
      iterations: config.PASSWORD_HASH_ITERATIONS,
    }),
    tokens,
    refreshTtlSeconds: config.REFRESH_TOKEN_TTL_SECONDS,
  });
  return defineModule({
    resolveCaller,
    identify: callerIdentity(tokens, resolveCaller),
    routes: async (app) => {
      const limits = { perIp: loginRateLimit(config), perEmail: loginEmailRateLimit(app, config) };
      await app.register(authRoutes(service, limits), { prefix: '/api/auth' });
    },
  });
}
