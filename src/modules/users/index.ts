import type { Database } from '../../db/database.ts';
import { defineModule } from '../module.ts';
import { createApiKeyRepository } from './api-keys.repository.ts';
import { createApiKeysService } from './api-keys.service.ts';
import { meRoutes } from './me.routes.ts';
import { createUserRepository } from './users.repository.ts';
import { usersRoutes } from './users.routes.ts';
import { createUsersService } from './users.service.ts';

export { apiKeyHash, looksLikeApiKey } from './api-key-format.ts';
export type { ApiKeyRepository } from './api-keys.repository.ts';
export { toUserDto, userSchema } from './user-dto.ts';
export type { UserRecord, UserRepository } from './users.repository.ts';

interface Deps {
  database: Pick<Database, 'db' | 'read'>;
  /** SIGNUP_GRANT in cents: what a new account starts with. */
  signupGrantCents: number;
}

/**
 * Wires accounts: users and API keys (repositories that auth and markets use too), and the routes
 * /api/me (own account, API keys) and /api/users (administration, public profiles read from a
 * replica when there are any). Users imports auth's scopes and permissions from their own files,
 * not auth's index.ts: auth reads users through this file, and the reverse would be an import cycle.
 */
export function createUsersModule({ database, signupGrantCents }: Deps) {
  const users = createUserRepository(database.db, { signupGrantCents });
  const apiKeys = createApiKeyRepository(database.db);
  const usersService = createUsersService({
    users,
    profiles: createUserRepository(database.read, { signupGrantCents }),
  });
  const apiKeysService = createApiKeysService({ apiKeys });
  return defineModule({
    users,
    apiKeys,
    routes: async (app) => {
      await app.register(meRoutes(usersService, apiKeysService), { prefix: '/api/me' });
      await app.register(usersRoutes(usersService), { prefix: '/api/users' });
    },
  });
}
