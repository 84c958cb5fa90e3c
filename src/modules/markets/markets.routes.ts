import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses } from '../../lib/http-schemas.ts';
import {
  createMarketBody,
  listMarketsQuery,
  marketIdParams,
  marketListResponse,
  marketResponse,
  patchMarketBody,
  replaceMarketBody,
} from './markets.schemas.ts';
import type { MarketsService } from './markets.service.ts';

const ifMatchHeaders = z.object({ 'if-match': z.string().max(200).optional() });

/** HTTP only: parse, call one service method, shape the envelope. */
export function marketsRoutes(service: MarketsService): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['markets'],
          summary: 'List markets with filters, sorting, pagination and column selection',
          querystring: listMarketsQuery,
          response: { 200: marketListResponse, ...errorResponses(400, 503) },
        },
      },
      async (request) => ({ success: true as const, ...(await service.list(request.query)) }),
    );

    app.get(
      '/:id',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['markets'],
          summary: 'Get a market by id or slug',
          params: marketIdParams,
          response: { 200: marketResponse, ...errorResponses(400, 404, 503) },
        },
      },
      async (request, reply) => {
        const { market, etag } = await service.get(request.params.id);
        reply.header('etag', etag);
        return { success: true as const, data: market };
      },
    );

    app.post(
      '/',
      {
        config: { permission: 'write' },
        schema: {
          tags: ['markets'],
          summary: 'Create a market',
          body: createMarketBody,
          response: { 201: marketResponse, ...errorResponses(400, 401, 403, 409, 413, 415, 422) },
        },
      },
      async (request, reply) => {
        const { market, etag } = await service.create(request.user!, request.body);
        reply.status(201).header('etag', etag).header('location', `/api/markets/${market.id}`);
        return { success: true as const, data: market };
      },
    );

    app.put(
      '/:id',
      {
        config: { permission: 'write' },
        schema: {
          tags: ['markets'],
          summary: 'Replace the editable fields of a market (honours If-Match)',
          params: marketIdParams,
          headers: ifMatchHeaders,
          body: replaceMarketBody,
          response: { 200: marketResponse, ...errorResponses(400, 401, 403, 404, 409, 412, 413, 415) },
        },
      },
      async (request, reply) => {
        const { market, etag } = await service.replace(
          request.user!,
          request.params.id,
          request.body,
          request.headers['if-match'],
        );
        reply.header('etag', etag);
        return { success: true as const, data: market };
      },
    );

    app.patch(
      '/:id',
      {
        config: { permission: 'write' },
        schema: {
          tags: ['markets'],
          summary: 'Change some editable fields of a market (honours If-Match)',
          params: marketIdParams,
          headers: ifMatchHeaders,
          body: patchMarketBody,
          response: { 200: marketResponse, ...errorResponses(400, 401, 403, 404, 409, 412, 413, 415) },
        },
      },
      async (request, reply) => {
        const { market, etag } = await service.patch(
          request.user!,
          request.params.id,
          request.body,
          request.headers['if-match'],
        );
        reply.header('etag', etag);
        return { success: true as const, data: market };
      },
    );

    app.delete(
      '/:id',
      {
        config: { permission: 'write' },
        schema: {
          tags: ['markets'],
          summary: 'Delete a market that has no trades (creator, moderator or admin)',
          params: marketIdParams,
          response: { 204: z.null().describe('Deleted'), ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request, reply) => {
        await service.remove(request.user!, request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
}
