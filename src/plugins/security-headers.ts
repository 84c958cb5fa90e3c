import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The response carries credentials (tokens, a new API key): `Cache-Control: no-store`. */
    noStore?: boolean;
  }
}

/** The browsable reference at /docs runs its own script and styles; nothing else may. */
const DOCS_PREFIX = '/docs';
const DOCS_CSP = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'", "'unsafe-inline'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:'],
    fontSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    objectSrc: ["'none'"],
  },
};

/**
 * The page at / (src/web/): its own scripts, styles and API calls on this origin, nothing inline,
 * nothing from elsewhere. Scripts may still set element.style (uPlot sizes its canvas that way):
 * CSP governs style sheets and style attributes in markup, not the CSSOM.
 */
export const PAGE_CSP = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
  },
};

/**
 * The essentials of what helmet sends, for the answers written before any hook runs (a URL the
 * router cannot decode, a request Node cannot parse): there helmet never sees the reply.
 */
export const REFUSAL_SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none';frame-ancestors 'none'",
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
} as const;

export interface SecurityHeadersOptions {
  /** Origins browsers may call the API from (CORS); empty: no cross-origin access at all. */
  corsOrigins: string[];
}

/**
 * Headers for a JSON API (@fastify/helmet): nothing it answers is a page to render, frame or
 * sniff (`default-src 'none'`, X-Frame-Options DENY, nosniff), HSTS for browsers that reach it
 * over TLS, no referrer. /docs gets the looser policy its page needs. CORS (@fastify/cors) only
 * for configured origins; credentials are bearer tokens, never cookies, so none are allowed.
 */
export const securityHeadersPlugin = fp(
  async (app: FastifyInstance, { corsOrigins }: SecurityHeadersOptions) => {
    await app.register(helmet, {
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
      },
      frameguard: { action: 'deny' },
      crossOriginEmbedderPolicy: false,
    });
    app.addHook('onRoute', (route) => {
      if (route.url === DOCS_PREFIX || route.url.startsWith(`${DOCS_PREFIX}/`)) {
        route.config = {
          ...route.config,
          helmet: { contentSecurityPolicy: DOCS_CSP },
        } as typeof route.config;
      }
    });
    // At onRequest, so that a refusal of such a route (a 401, a 429) is not stored either.
    app.addHook('onRequest', async (request, reply) => {
      if (request.routeOptions.config.noStore) reply.header('cache-control', 'no-store');
    });
    if (corsOrigins.length > 0) {
      await app.register(cors, {
        origin: corsOrigins,
        methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
        allowedHeaders: [
          'authorization',
          'content-type',
          'x-api-key',
          'idempotency-key',
          'if-match',
          'x-request-id',
          'x-consistency-token',
        ],
        exposedHeaders: [
          'x-request-id',
          'x-consistency-token',
          'etag',
          'retry-after',
          'ratelimit-limit',
          'ratelimit-remaining',
          'ratelimit-reset',
        ],
        maxAge: 600,
      });
    }
  },
  { name: 'security-headers', dependencies: [] },
);
