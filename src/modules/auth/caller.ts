import type { FastifyRequest } from 'fastify';
import type { Authenticator, Credentials } from './authenticator.ts';
import type { AuthUser } from './permissions.ts';

/** The credentials a request carries: its Authorization and X-API-Key headers. */
export function credentialsOf(request: FastifyRequest): Credentials {
  const apiKey = request.headers['x-api-key'];
  return {
    authorization: request.headers.authorization,
    apiKey: Array.isArray(apiKey) ? apiKey[0] : apiKey,
  };
}

/** Who is calling, authenticated at most once per request; rejects with a 401 as the authenticator does. */
export type CallerResolver = (request: FastifyRequest) => Promise<AuthUser>;

/**
 * Authenticates a request's caller once, whoever asks first: the rate limiter (to charge the
 * caller's own budget) and the auth hook (to enforce the route's permission) share one lookup.
 */
export function createCallerResolver(authenticator: Authenticator): CallerResolver {
  const callers = new WeakMap<FastifyRequest, Promise<AuthUser>>();
  return (request) => {
    let caller = callers.get(request);
    if (!caller) {
      caller = authenticator.authenticate(credentialsOf(request));
      callers.set(request, caller);
    }
    return caller;
  };
}
