import type { FastifyRequest } from 'fastify';
import { looksLikeApiKey } from '../users/index.ts';
import type { Authenticator, Credentials } from './authenticator.ts';
import type { AuthUser } from './permissions.ts';
import type { TokenService } from './tokens.ts';

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

/**
 * Who the rate limiter charges: `user:<id>` for a signed-in caller, so one budget follows them
 * across addresses; undefined otherwise (the limiter keys by IP). A token we signed is checked with
 * our secret alone (no database read, even on public routes); an API key or an identity provider's
 * token is authenticated through `resolveCaller`, the lookup the auth hook then reuses. A forged,
 * expired or revoked credential identifies nobody: it counts against the IP.
 */
export function callerIdentity(tokens: Pick<TokenService, 'verify'>, resolveCaller: CallerResolver) {
  return async (request: FastifyRequest): Promise<string | undefined> => {
    const { authorization, apiKey } = credentialsOf(request);
    if (authorization === undefined && apiKey === undefined) return undefined;
    const bearer = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (apiKey === undefined && bearer !== undefined && !looksLikeApiKey(bearer)) {
      const claims = await tokens.verify(bearer).catch(() => undefined);
      if (claims) return `user:${claims.sub}`;
    }
    try {
      return `user:${(await resolveCaller(request)).id}`;
    } catch {
      return undefined;
    }
  };
}
