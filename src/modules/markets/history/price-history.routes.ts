import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses } from '../../../lib/http-schemas.ts';
import { receivedAt } from '../../../plugins/request-context.ts';
import { marketIdParams } from '../markets.schemas.ts';
import { priceHistoryQuery, priceHistoryResponse } from './price-history.schemas.ts';
import type { PriceHistoryService } from './price-history.service.ts';

/** A finished range never changes: caches may keep it for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** A range reaching now changes with the next trade: a chart polling it is at most this stale. */
const LIVE = 'public, max-age=5';

const ifNoneMatchHeaders = z.object({ 'if-none-match': z.string().max(1000).optional() });

/** HTTP only: parse, call the service, answer 304 when the client holds this version. */
export function priceHistoryRoutes(service: PriceHistoryService): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/:id/history',
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
        const { body, etag, immutable } = await service.get(
          request.params.id,
          request.query,
          new Date(receivedAt(reply)),
        );
        reply.header('etag', etag).header('cache-control', immutable ? IMMUTABLE : LIVE);
        const held = request.headers['if-none-match']?.split(',').map((t) => t.trim().replace(/^W\//, ''));
        if (held?.includes(etag) || held?.includes('*')) return reply.status(304).send(null);
        return { success: true as const, data: body };
      },
    );
  };
}
