import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../lib/errors.ts';
import type { CallerResolver } from '../modules/auth/caller.ts';
import { type Access, type AuthUser, hasPermission } from '../modules/auth/permissions.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, once a route that declares a permission has authenticated it. */
    user: AuthUser | null;
  }
  interface FastifyContextConfig {
    /** Who may call this route: `public`, or a signed-in user whose role holds this permission. */
    permission?: Access;
  }
}

/** Routes under this prefix must say who may call them; forgetting is a startup error, not an open door. */
const GUARDED_PREFIX = '/api';

/**
 * The seed's requireAuth + requirePermission as one hook driven by each route's
 * `config: { permission }`. It runs at onRequest, before the body is even parsed: an anonymous
 * caller learns nothing about a protected route's input rules and costs us nothing to refuse.
 */
export const authPlugin = fp(
  async (app: FastifyInstance, { resolveCaller }: { resolveCaller: CallerResolver }) => {
    app.decorateRequest('user', null);

    app.addHook('onRoute', (route) => {
      const { url, method } = route;
      if ((url === GUARDED_PREFIX || url.startsWith(`${GUARDED_PREFIX}/`)) && !route.config?.permission) {
        throw new Error(`${String(method)} ${url} must declare config.permission ('public' or a permission)`);
      }
    });

    app.addHook('onRequest', async (request) => {
      const permission = request.routeOptions.config.permission;
      if (!permission || permission === 'public') return;
      request.user = await resolveCaller(request);
      if (!hasPermission(request.user, permission)) {
        throw ApiError.forbidden(`This needs the "${permission}" permission`);
      }
    });
  },
);
