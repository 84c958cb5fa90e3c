import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../lib/errors.ts';
import { PAGE_CSP } from '../../plugins/security-headers.ts';
import { loadWebAssets, type WebAsset } from './web-assets.ts';

const YEAR_SECONDS = 31_536_000;

/** Whether the client already holds this version (If-None-Match, any of a list, weak or strong, or `*`). */
function held(request: FastifyRequest, asset: WebAsset): boolean {
  const header = request.headers['if-none-match'];
  if (header === undefined) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim().replace(/^W\//, '');
    return t === '*' || t === asset.etag;
  });
}

function send(request: FastifyRequest, reply: FastifyReply, asset: WebAsset, cacheControl: string) {
  reply.header('cache-control', cacheControl).header('etag', asset.etag);
  if (held(request, asset)) return reply.code(304).send();
  return reply.type(asset.contentType).send(asset.body);
}

/**
 * The page at `/` (src/web/): markets by volume and a live market view, built on the public API
 * only. Not part of the API: hidden from /openapi.json (so the generated hostile-input test, which
 * reads its operations from there, leaves it alone), no permission (it is outside /api), and not
 * rate limited: a fixed set of files served from memory costs less than the limiter's own check,
 * and a reader who hits the API's limit should still get the page that tells them so.
 */
export async function webPageRoutes(app: FastifyInstance) {
  const { page, assets } = await loadWebAssets();
  const config = { rateLimit: false, helmet: { contentSecurityPolicy: PAGE_CSP } } as const;

  // Revalidated on every load (a 304 when unchanged), so a new release's asset URLs are seen at once.
  app.get('/', { config, schema: { hide: true } }, (request, reply) =>
    send(request, reply, page, 'no-cache'),
  );

  app.get<{ Params: { name: string }; Querystring: { v?: string } }>(
    '/assets/:name',
    { config, schema: { hide: true } },
    (request, reply) => {
      const asset = assets.get(request.params.name);
      if (!asset) throw ApiError.notFound(`Asset ${request.params.name}`);
      // The URL the page names carries the content's hash: that URL never changes meaning.
      const versioned = request.query.v === asset.version;
      return send(
        request,
        reply,
        asset,
        versioned ? `public, max-age=${YEAR_SECONDS}, immutable` : 'no-cache',
      );
    },
  );
}
