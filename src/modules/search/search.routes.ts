import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorResponses } from '../../lib/http-schemas.ts';
import { searchQuery, searchResponse } from './search.schemas.ts';
import type { SearchService } from './search.service.ts';

/**
 * GET /api/markets/search. Registered under the /api/markets prefix: Fastify's router prefers the
 * static segment `search` to the parametric `:id`, so this never reaches the get-by-id route.
 */
export function searchRoutes(service: SearchService): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/search',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['markets'],
          summary: 'Search markets: full text and semantic nearest neighbours, fused, best first',
          querystring: searchQuery,
          response: { 200: searchResponse, ...errorResponses(400, 503) },
        },
      },
      async (request) => ({ success: true as const, ...(await service.search(request.query)) }),
    );
  };
}
