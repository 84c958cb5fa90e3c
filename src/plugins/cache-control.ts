import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * What a public read may be kept for: not at all without asking again. The server's own cache
 * (CACHE_TTL_SECONDS for rows, LIST_CACHE_TTL_SECONDS for first list pages) is dropped by every
 * write the moment it commits, and a market closed by time is dropped within
 * MARKET_CLOSE_INTERVAL_MS, so the server never answers with what it knows to be out of date; a
 * client told `max-age=N` would go on showing a market N seconds after a trade moved it. Instead
 * every public read carries an ETag, and revalidating it costs a 304 without a body.
 */
export const PUBLIC_REVALIDATE = 'public, max-age=0, must-revalidate';
/** Personal (signed-in) reads and every refusal: never stored by a browser or a proxy. */
export const NO_STORE = 'no-store';

/**
 * Cache-Control on every answer of a route under /api that did not set its own (price history
 * sets `immutable` for finished ranges): public reads that succeeded (200, 304) may be stored and
 * must be revalidated; anything else (personal reads, writes, errors) is `no-store`.
 */
export const cacheControlPlugin = fp(
  async (app: FastifyInstance) => {
    app.addHook('onSend', (request, reply, payload, done) => {
      const permission = request.routeOptions.config?.permission;
      if (permission !== undefined && !reply.hasHeader('cache-control')) {
        const isRead = request.method === 'GET' || request.method === 'HEAD';
        const ok = reply.statusCode === 200 || reply.statusCode === 304;
        reply.header('cache-control', permission === 'public' && isRead && ok ? PUBLIC_REVALIDATE : NO_STORE);
      }
      done(null, payload);
    });
  },
  { name: 'cache-control', dependencies: [] },
);
