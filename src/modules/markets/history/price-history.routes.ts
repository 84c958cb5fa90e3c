import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses } from '../../../lib/http-schemas.ts';
import { receivedAt } from '../../../plugins/request-context.ts';
import { marketIdParams } from '../markets.schemas.ts';
import {
  batchPriceHistoryQuery,
  batchPriceHistoryResponse,
  priceHistoryQuery,
  priceHistoryResponse,
} from './price-history.schemas.ts';
import type { PriceHistory, PriceHistoryService } from './price-history.service.ts';

/** A finished range never changes: caches may keep it for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** A range reaching now changes with the next trade: a chart polling it is at most this stale. */
const LIVE = 'public, max-age=5';

const ifNoneMatchHeaders = z.object({ 'if-none-match': z.string().max(1000).optional() });

/** Caching headers for a version of a history; true when the client already holds it (→ 304). */
function negotiate(request: FastifyRequest, reply: FastifyReply, { etag, immutable }: PriceHistory<unknown>) {
  reply.header('etag', etag).header('cache-control', immutable ? IMMUTABLE : LIVE);
  const held = request.headers['if-none-match']?.split(',').map((t) => t.trim().replace(/^W\//, ''));
  return held?.includes(etag) || held?.includes('*');
}

/**
 * HTTP only: parse, call the service, answer 304 when the client holds this version. Mounted
 * under /api: one market at /markets/:id/history, a batch at /history?markets=… (a static
 * /markets/history would hide a market slugged "history").
 */
export function priceHistoryRoutes(service: PriceHistoryService): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/history',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['markets'],
          summary: 'Price history of several markets at once (honours If-None-Match)',
          querystring: batchPriceHistoryQuery,
          headers: ifNoneMatchHeaders,
          response: {
            200: batchPriceHistoryResponse,
            304: z.null().describe('The client already holds this version'),
            ...errorResponses(400, 404, 503),
          },
        },
      },
      async (request, reply) => {
        const { markets, ...query } = request.query;
        const version = await service.getMany(markets, query, new Date(receivedAt(reply)));
        if (negotiate(request, reply, version)) return reply.status(304).send(null);
        return { success: true as const, data: version.body };
      },
    );

    app.get(
      '/markets/:id/history',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['markets'],
          summary: 'Price history of the YES probability in OHLC buckets (honours If-None-Match)',
          params: marketIdParams,
          querystring: priceHistoryQuery,
          headers: ifNoneMatchHeaders,
          response: {
            200: priceHistoryResponse,
            304: z.null().describe('The client already holds this version'),
            ...errorResponses(400, 404, 503),
          },
        },
      },
      async (request, reply) => {
        const version = await service.get(request.params.id, request.query, new Date(receivedAt(reply)));
        if (negotiate(request, reply, version)) return reply.status(304).send(null);
        return { success: true as const, data: version.body };
      },
    );
  };
}
