import type { RateLimitOptions } from '@fastify/rate-limit';
import type { preHandlerAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses, ok } from '../../lib/http-schemas.ts';
import { clientIpKey } from '../../plugins/rate-limit.ts';
import { userSchema } from '../users/index.ts';
import { loginBody, refreshBody, registerBody, tokenPairResponse } from './auth.schemas.ts';
import type { AuthService } from './auth.service.ts';

/** /api/auth: public by nature; the credentials are in the body. */
export interface LoginLimits {
  /** Attempts per client IP (rate-limit.ts `loginRateLimit`). */
  perIp: RateLimitOptions | undefined;
  /** Attempts per target email, from any IP (rate-limit.ts `loginEmailRateLimit`). */
  perEmail: preHandlerAsyncHookHandler;
}

export function authRoutes(service: AuthService, limits: LoginLimits): FastifyPluginAsyncZod {
  return async (app) => {
    app.post(
      '/register',
      {
        config: { permission: 'public', noStore: true },
        schema: {
          tags: ['auth'],
          summary: 'Create an account (role is always "user")',
          body: registerBody,
          description:
            'At most REGISTRATIONS_PER_IP_PER_DAY accounts per client address and day (429 with Retry-After); ' +
            'the first SIGNUP_GRANTS_PER_IP_PER_DAY of them receive the signup grant, later ones start at 0.',
          response: { 201: ok(userSchema), ...errorResponses(400, 409, 413, 415, 429) },
        },
      },
      async (request, reply) => {
        const user = await service.register(request.body, clientIpKey(request));
        return reply.status(201).send({ success: true as const, data: user });
      },
    );

    app.post(
      '/login',
      {
        config: { permission: 'public', noStore: true, ...(limits.perIp && { rateLimit: limits.perIp }) },
        preHandler: limits.perEmail,
        schema: {
          tags: ['auth'],
          summary: 'Exchange email and password for an access token and a refresh token',
          body: loginBody,
          response: { 200: tokenPairResponse, ...errorResponses(400, 401, 413, 415, 429) },
        },
      },
      async (request) => ({ success: true as const, data: await service.login(request.body) }),
    );

    app.post(
      '/refresh',
      {
        config: { permission: 'public', noStore: true },
        schema: {
          tags: ['auth'],
          summary: 'Exchange a refresh token for new tokens; the old one stops working',
          body: refreshBody,
          response: { 200: tokenPairResponse, ...errorResponses(400, 401, 413, 415) },
        },
      },
      async (request) => ({ success: true as const, data: await service.refresh(request.body.refreshToken) }),
    );

    app.post(
      '/logout',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['auth'],
          summary: 'End the session of this refresh token',
          body: refreshBody,
          response: { 204: z.null().describe('Signed out'), ...errorResponses(400, 413, 415) },
        },
      },
      async (request, reply) => {
        await service.logout(request.body.refreshToken);
        return reply.status(204).send(null);
      },
    );
  };
}
