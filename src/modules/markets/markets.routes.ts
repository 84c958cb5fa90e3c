import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createBodyMemo, createTaggedBodyMemo } from '../../lib/body-memo.ts';
import { ifNoneMatchHolds } from '../../lib/conditional.ts';
import { errorResponses } from '../../lib/http-schemas.ts';
import { receivedAt } from '../../plugins/request-context.ts';
import type { AuthUser } from '../auth/index.ts';
import type { MarketView } from './market-dto.ts';
import {
  createMarketBody,
  listMarketsQuery,
  type MarketDto,
  marketIdParams,
  marketListResponse,
  marketResponse,
  patchMarketBody,
  replaceMarketBody,
} from './markets.schemas.ts';
import type { MarketList, MarketsService } from './markets.service.ts';

const ifMatchHeaders = z.object({ 'if-match': z.string().max(200).optional() });
const ifNoneMatchHeaders = z.object({ 'if-none-match': z.string().max(200).optional() });

/**
 * If-None-Match (weak comparison, `*` matches any) against the view's ETag. The ETag is the row's
 * version, and a market's DTO changes without a new version once at its close time (active →
 * closed): a closed market is therefore always sent whole, so a copy from before the close is
 * never confirmed as current.
 */
function notModified(ifNoneMatch: string | undefined, view: MarketView): boolean {
  return view.market.status !== 'closed' && ifNoneMatchHolds(ifNoneMatch, view.etag);
}

/** HTTP only: parse, call one service method, shape the envelope. */
export function marketsRoutes(service: MarketsService): FastifyPluginAsyncZod {
  // A view or a list the cache hands out again (see viewOf, sharedList) is serialised once.
  const sendView = createBodyMemo<MarketView>();
  const sendList = createTaggedBodyMemo<MarketList>();
  return async (app) => {
    app.get(
      '/',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['markets'],
          summary:
            'List markets with filters, sorting, pagination and column selection (If-None-Match with its ETag: 304)',
          querystring: listMarketsQuery,
          headers: ifNoneMatchHeaders,
          response: {
            200: marketListResponse,
            304: z.null().describe('Not modified: your copy of this page with this ETag is current'),
            ...errorResponses(400, 503),
          },
        },
      },
      async (request, reply) => {
        const list = await service.list(request.query);
        return sendList(request, reply, list, () => ({ success: true as const, ...list }));
      },
    );

    app.get(
      '/:id',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['markets'],
          summary: 'Get a market by id or slug (If-None-Match with its ETag: 304)',
          params: marketIdParams,
          headers: ifNoneMatchHeaders,
          response: {
            200: marketResponse,
            304: z.null().describe('Not modified: your copy with this ETag is current'),
            ...errorResponses(400, 404, 503),
          },
        },
      },
      async (request, reply) => {
        const view = await service.get(request.params.id);
        reply.header('etag', view.etag);
        if (notModified(request.headers['if-none-match'], view)) return reply.code(304).send(null);
        return sendView(reply, view, () => ({ success: true as const, data: view.market }));
      },
    );

    app.post(
      '/',
      {
        config: { permission: 'write', scope: 'markets:write' },
        schema: {
          tags: ['markets'],
          summary: 'Create a market',
          body: createMarketBody,
          response: { 201: marketResponse, ...errorResponses(400, 401, 403, 409, 413, 415, 422) },
        },
      },
      async (request, reply) => {
        const { market, etag } = await service.create(request.user!, request.body, receivedAt(reply));
        reply.status(201).header('etag', etag).header('location', `/api/markets/${market.id}`);
        return { success: true as const, data: market };
      },
    );

    // PUT replaces every editable field and PATCH changes some; otherwise the same contract.
    const editRoute = <Body extends z.ZodType>(
      method: 'PUT' | 'PATCH',
      summary: string,
      body: Body,
      apply: (
        user: AuthUser,
        idOrSlug: string,
        input: z.output<Body>,
        ifMatch: string | undefined,
      ) => Promise<{ market: MarketDto; etag: string }>,
    ) =>
      app.route({
        method,
        url: '/:id',
        config: { permission: 'write', scope: 'markets:write' },
        schema: {
          tags: ['markets'],
          summary: `${summary} (honours If-Match)`,
          params: marketIdParams,
          headers: ifMatchHeaders,
          body,
          response: { 200: marketResponse, ...errorResponses(400, 401, 403, 404, 409, 412, 413, 415) },
        },
        handler: async (request, reply) => {
          const { market, etag } = await apply(
            request.user!,
            request.params.id,
            // Validated against `body` by then; the type provider cannot follow a generic schema.
            request.body as z.output<Body>,
            request.headers['if-match'],
          );
          reply.header('etag', etag);
          return { success: true as const, data: market };
        },
      });
    editRoute('PUT', 'Replace the editable fields of a market', replaceMarketBody, service.replace);
    editRoute('PATCH', 'Change some editable fields of a market', patchMarketBody, service.patch);

    app.delete(
      '/:id',
      {
        config: { permission: 'write', scope: 'markets:write' },
        schema: {
          tags: ['markets'],
          summary: 'Delete a market that has no trades (creator, moderator or admin)',
          params: marketIdParams,
          response: { 204: z.null().describe('Deleted'), ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request, reply) => {
        await service.remove(request.user!, request.params.id, receivedAt(reply));
        return reply.status(204).send(null);
      },
    );
  };
}
