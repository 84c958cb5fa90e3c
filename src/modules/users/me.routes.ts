import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses } from '../../lib/http-schemas.ts';
import type { ApiKeysService } from './api-keys.service.ts';
import {
  apiKeyIdParams,
  apiKeyListResponse,
  createApiKeyBody,
  createdApiKeyResponse,
  patchMeBody,
  userResponse,
} from './users.schemas.ts';
import type { UsersService } from './users.service.ts';

/** /api/me: the caller's own account and API keys. Any signed-in role may use them. */
export function meRoutes(users: UsersService, apiKeys: ApiKeysService): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/',
      {
        config: { permission: 'read', scope: 'read' },
        schema: {
          tags: ['me'],
          summary: 'My account',
          response: { 200: userResponse, ...errorResponses(401, 403) },
        },
      },
      async (request) => ({ success: true as const, data: await users.me(request.user!.id) }),
    );

    app.patch(
      '/',
      {
        config: { permission: 'write', scope: 'account:write' },
        schema: {
          tags: ['me'],
          summary: 'Change my display name (the only field a user may change)',
          body: patchMeBody,
          response: { 200: userResponse, ...errorResponses(400, 401, 403, 413, 415) },
        },
      },
      async (request) => ({
        success: true as const,
        data: await users.rename(request.user!.id, request.body.name),
      }),
    );

    app.post(
      '/api-keys',
      {
        config: { permission: 'write', scope: 'keys:write', noStore: true },
        schema: {
          tags: ['me'],
          summary: 'Create an API key; the response is the only time the key is shown',
          body: createApiKeyBody,
          response: { 201: createdApiKeyResponse, ...errorResponses(400, 401, 403, 409, 413, 415) },
        },
      },
      async (request, reply) => {
        const key = await apiKeys.create(request.user!, request.body);
        return reply.status(201).send({ success: true as const, data: key });
      },
    );

    app.get(
      '/api-keys',
      {
        config: { permission: 'read', scope: 'read' },
        schema: {
          tags: ['me'],
          summary: 'My active API keys (names and prefixes, never the keys)',
          response: { 200: apiKeyListResponse, ...errorResponses(401, 403) },
        },
      },
      async (request) => ({ success: true as const, data: await apiKeys.list(request.user!.id) }),
    );

    app.delete(
      '/api-keys/:id',
      {
        config: { permission: 'write', scope: 'keys:write' },
        schema: {
          tags: ['me'],
          summary: 'Revoke one of my API keys, effective immediately',
          params: apiKeyIdParams,
          response: { 204: z.null().describe('Revoked'), ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request, reply) => {
        await apiKeys.revoke(request.user!.id, request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
}
