import type { IncomingMessage, ServerResponse } from 'node:http';
import cors from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';

type ContentSecurityPolicyOptions = NonNullable<Parameters<typeof helmet.contentSecurityPolicy>[0]>;

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The response carries credentials (tokens, a new API key): `Cache-Control: no-store`. */
    noStore?: boolean;
    /** This route's content security policy, instead of the API's (a page with its own scripts). */
    helmet?: { contentSecurityPolicy: ContentSecurityPolicyOptions };
    /** The headers those options give, worked out when the route is added (set by this plugin). */
    securityHeaders?: Readonly<Record<string, string>>;
  }
}

/** What every answer of the API carries: nothing it sends is a page to render, frame or sniff. */
const API_HELMET: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  },
  frameguard: { action: 'deny' },
  crossOriginEmbedderPolicy: false,
};

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
 * The headers helmet sets for `options`. They depend on nothing in the request, so they are
 * worked out once, by running helmet's middleware against a response that only records them:
 * @fastify/helmet built helmet's middleware again for every request (re-parsing the policy) and
 * set each header on the raw response, which also sent Node's writeHead down its slow path.
 */
export function helmetHeaders(options: HelmetOptions): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: unknown) {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error;
  });
  return Object.freeze(headers);
}

/**
 * Headers for a JSON API (helmet): nothing it answers is a page to render, frame or sniff
 * (`default-src 'none'`, X-Frame-Options DENY, nosniff), HSTS for browsers that reach it over
 * TLS, no referrer. /docs gets the looser policy its page needs, a route may give its own
 * (`config: { helmet: { contentSecurityPolicy } }`). CORS (@fastify/cors) only for configured
 * origins; credentials are bearer tokens, never cookies, so none are allowed.
 */
export const securityHeadersPlugin = fp(
  async (app: FastifyInstance, { corsOrigins }: SecurityHeadersOptions) => {
    const apiHeaders = helmetHeaders(API_HELMET);
    app.addHook('onRoute', (route) => {
      const docs = route.url === DOCS_PREFIX || route.url.startsWith(`${DOCS_PREFIX}/`);
      const own = docs ? { contentSecurityPolicy: DOCS_CSP } : route.config?.helmet;
      route.config = {
        ...route.config,
        securityHeaders: own ? helmetHeaders({ ...API_HELMET, ...own } as HelmetOptions) : apiHeaders,
      } as typeof route.config;
    });
    // At onRequest, so that a refusal (a 401, a 429) carries them too and, for a route that
    // hands out credentials, is not stored either. Requests no route matched get the API's.
    app.addHook('onRequest', (request, reply, done) => {
      const config = request.routeOptions.config;
      reply.headers(config.securityHeaders ?? apiHeaders);
      if (config.noStore) reply.header('cache-control', 'no-store');
      done();
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
