import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../lib/errors.ts';
import {
  type Access,
  type AuthUser,
  type CallerResolver,
  hasPermission,
  rolePermissions,
  SCOPE_NAMES,
  SCOPES,
  type Scope,
} from '../modules/auth/index.ts';

/**
 * A route's scope must need no more than its permission: every role that may call the route may
 * also hold a key for it (an admin-only route may take a "write" scope, not the reverse).
 */
function rolePermissionsCover(permission: Exclude<Access, 'public'>, scope: Scope): boolean {
  return Object.values(rolePermissions).every(
    (held) => !held.includes(permission) || held.includes(SCOPES[scope]),
  );
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, once a route that declares a permission has authenticated it. */
    user: AuthUser | null;
  }
  interface FastifyContextConfig {
    /** Who may call this route: `public`, or a signed-in user whose role holds this permission. */
    permission?: Access;
    /** The scope an API key needs for this route (every non-public /api route names one). */
    scope?: Scope;
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
      if (!(url === GUARDED_PREFIX || url.startsWith(`${GUARDED_PREFIX}/`))) return;
      const { permission, scope } = route.config ?? {};
      if (!permission) {
        throw new Error(`${String(method)} ${url} must declare config.permission ('public' or a permission)`);
      }
      if (permission !== 'public' && !scope) {
        throw new Error(`${String(method)} ${url} must declare config.scope (${SCOPE_NAMES.join(', ')})`);
      }
      if (scope && permission !== 'public' && !rolePermissionsCover(permission, scope)) {
        throw new Error(
          `${String(method)} ${url}: scope "${scope}" is not within permission "${permission}"`,
        );
      }
    });

    async function authorize(request: FastifyRequest, permission: Exclude<Access, 'public'>) {
      request.user = await resolveCaller(request);
      if (!hasPermission(request.user, permission)) {
        throw ApiError.forbidden(`This needs the "${permission}" permission`);
      }
      const scope = request.routeOptions.config.scope!;
      const key = request.user.apiKey;
      if (key && !key.scopes.includes(scope)) {
        throw new ApiError(403, 'INSUFFICIENT_SCOPE', `This API key lacks the "${scope}" scope`, [{ scope }]);
      }
    }
    // Public routes (the hot reads) pass without a promise.
    app.addHook('onRequest', (request, _reply, done) => {
      const permission = request.routeOptions.config.permission;
      if (!permission || permission === 'public') return done();
      authorize(request, permission).then(
        () => done(),
        (error: Error) => done(error),
      );
    });
  },
  { name: 'auth', dependencies: [] },
);
