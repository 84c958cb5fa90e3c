import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import { loginEmailRateLimit, loginRateLimit } from '../../plugins/rate-limit.ts';
import type { UserRepository } from '../users/users.repository.ts';
import { authRoutes } from './auth.routes.ts';
import { createAuthService } from './auth.service.ts';
import { createPasswordHasher } from './password.ts';
import { registrationRepository } from './registrations.repository.ts';
import { createSessionRepository } from './sessions.repository.ts';
import type { TokenService } from './tokens.ts';

/** Wires sign-in: sessions repository + password hasher → auth service → /api/auth routes. */
export async function registerAuth(
  app: FastifyInstance,
  deps: { config: Config; database: Database; users: UserRepository; tokens: TokenService },
) {
  const service = createAuthService({
    db: deps.database.db,
    users: deps.users,
    registrations: registrationRepository,
    signupLimits: {
      perDay: deps.config.REGISTRATIONS_PER_IP_PER_DAY,
      grantsPerDay: deps.config.SIGNUP_GRANTS_PER_IP_PER_DAY,
    },
    sessions: createSessionRepository(deps.database.db),
    passwords: createPasswordHasher({
      memoryKib: deps.config.PASSWORD_HASH_MEMORY_KIB,
      iterations: deps.config.PASSWORD_HASH_ITERATIONS,
    }),
    tokens: deps.tokens,
    refreshTtlSeconds: deps.config.REFRESH_TOKEN_TTL_SECONDS,
  });
  const limits = { perIp: loginRateLimit(deps.config), perEmail: loginEmailRateLimit(app, deps.config) };
  await app.register(authRoutes(service, limits), { prefix: '/api/auth' });
  return { service };
}
