import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../lib/errors.ts';
import { type AuthUser, hasPermission, type Permission } from '../modules/auth/permissions.ts';
import type { TokenService } from '../modules/auth/tokens.ts';
import type { UserRepository } from '../modules/users/users.repository.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, once a route that declares a permission has authenticated it. */
    user: AuthUser | null;
  }
  interface FastifyContextConfig {
    /** Who may call this route: absent = anyone; otherwise a signed-in user with this permission. */
    permission?: Permission;
  }
}

export interface AuthDeps {
  tokens: TokenService;
  users: Pick<UserRepository, 'findById'>;
}

/** The seed's verifyToken/requireAuth/requirePermission as one hook driven by route config. */
export const authPlugin = fp(async (app: FastifyInstance, { tokens, users }: AuthDeps) => {
  app.decorateRequest('user', null);

  async function authenticate(request: FastifyRequest): Promise<AuthUser> {
    const header = request.headers.authorization;
    if (!header) throw ApiError.unauthorized('Missing authorization token');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw ApiError.unauthorized('Authorization header must be "Bearer <token>"');
    const claims = await tokens.verify(match[1]!);
    // The token proves who signed in; the database says whether they still exist and their role now.
    const user = await users.findById(claims.sub);
    if (!user) throw ApiError.unauthorized('The user of this token no longer exists');
    return { id: user.id, email: user.email, role: user.role };
  }

  app.addHook('preHandler', async (request) => {
    const permission = request.routeOptions.config.permission;
    if (!permission) return;
    request.user = await authenticate(request);
    if (!hasPermission(request.user, permission)) {
      throw ApiError.forbidden(`This needs the "${permission}" permission`);
    }
  });
});
