import type { FastifyInstance } from 'fastify';
import type { ApiKeyRepository } from './api-keys.repository.ts';
import { createApiKeysService } from './api-keys.service.ts';
import { meRoutes } from './me.routes.ts';
import type { UserRepository } from './users.repository.ts';
import { usersRoutes } from './users.routes.ts';
import { createUsersService } from './users.service.ts';

/** Wires accounts: /api/me (own account, API keys) and /api/users (administration, profiles). */
export async function registerUsers(
  app: FastifyInstance,
  deps: {
    users: UserRepository;
    apiKeys: ApiKeyRepository;
    /** Where public profiles are read (a replica when there are any); defaults to `users`. */
    profiles?: Pick<UserRepository, 'findById'>;
  },
) {
  const users = createUsersService({ users: deps.users, profiles: deps.profiles });
  const apiKeys = createApiKeysService({ apiKeys: deps.apiKeys });
  await app.register(meRoutes(users, apiKeys), { prefix: '/api/me' });
  await app.register(usersRoutes(users), { prefix: '/api/users' });
  return { users, apiKeys };
}
