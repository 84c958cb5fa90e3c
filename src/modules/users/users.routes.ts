import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorResponses } from '../../lib/http-schemas.ts';
import {
  changeRoleBody,
  listUsersQuery,
  publicProfileResponse,
  userIdParams,
  userListResponse,
  userResponse,
} from './users.schemas.ts';
import type { UsersService } from './users.service.ts';

/** /api/users: administration, and everyone's public profile. */
export function usersRoutes(service: UsersService): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/',
      {
        config: { permission: 'admin', scope: 'admin' },
        schema: {
          tags: ['users'],
          summary: 'List accounts, oldest first',
          querystring: listUsersQuery,
          response: { 200: userListResponse, ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => ({ success: true as const, ...(await service.list(request.query)) }),
    );

    app.get(
      '/:id',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['users'],
          summary: "A user's public profile (no email)",
          params: userIdParams,
          response: { 200: publicProfileResponse, ...errorResponses(400, 404) },
        },
      },
      async (request) => ({ success: true as const, data: await service.profile(request.params.id) }),
    );

    app.patch(
      '/:id/role',
      {
        config: { permission: 'admin', scope: 'admin' },
        schema: {
          tags: ['users'],
          summary: "Change a user's role (the last admin cannot be demoted)",
          params: userIdParams,
          body: changeRoleBody,
          response: { 200: userResponse, ...errorResponses(400, 401, 403, 404, 409, 413, 415) },
        },
      },
      async (request) => ({
        success: true as const,
        data: await service.changeRole(request.params.id, request.body.role),
      }),
    );
  };
}
