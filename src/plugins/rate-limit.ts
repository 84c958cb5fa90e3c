import fastifyRateLimit, { normalizeIP, type RateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { Config } from '../config/env.ts';
import type { CircuitBreaker } from '../lib/circuit-breaker.ts';
import { ApiError } from '../lib/errors.ts';
import { rateLimitStore } from './rate-limit-store.ts';

const MINUTE_MS = 60_000;

type LimitConfig = Pick<
  Config,
  | 'RATE_LIMIT_PER_MINUTE'
  | 'LOGIN_RATE_LIMIT_PER_MINUTE'
  | 'TRADE_RATE_LIMIT_PER_MINUTE'
  | 'COMMENT_RATE_LIMIT_PER_MINUTE'
  | 'RATE_LIMIT_MAX_CLIENTS'
>;

export interface RateLimitDeps {
  config: LimitConfig;
  /** Set: one budget per client across every instance. */
  redis?: Redis | undefined;
  /** Redis's circuit breaker, shared with the cache. */
  redisBreaker?: Pick<CircuitBreaker, 'run'> | undefined;
  /** Prefix of the Redis keys. */
  namespace: string;
  /** The caller's identity when authenticated (the auth module's `identify`); else undefined (keyed by IP). */
  identify?: (request: FastifyRequest) => Promise<string | undefined>;
}

/**
 * The client's IP. Fastify derives request.ip from X-Forwarded-For only when the direct peer is in
 * TRUST_PROXY (see app.ts), so a client cannot pick its own key by sending that header.
 * IPv6 clients are grouped by /64, the block one subscriber usually holds.
 */
export const clientIpKey = (request: FastifyRequest) => `ip:${normalizeIP(request.ip)}`;

function rateLimited(after: string): ApiError {
  return new ApiError(429, 'RATE_LIMITED', `Too many requests; retry in ${after}`);
}

/**
 * @fastify/rate-limit on every route: RATE_LIMIT_PER_MINUTE per user (signed in) or per IP, with
 * RateLimit-* headers and a 429 in the error envelope. Routes opt out with
 * `config: { rateLimit: false }` or into a preset below with `config: { rateLimit: preset }`.
 */
export const rateLimitPlugin = fp(
  async (app: FastifyInstance, { config, redis, redisBreaker, namespace, identify }: RateLimitDeps) => {
    await app.register(fastifyRateLimit, {
      global: config.RATE_LIMIT_PER_MINUTE > 0,
      max: config.RATE_LIMIT_PER_MINUTE,
      timeWindow: MINUTE_MS,
      enableDraftSpec: true,
      keyGenerator: async (request) => (await identify?.(request)) ?? clientIpKey(request),
      errorResponseBuilder: (_request, context) => rateLimited(context.after),
      store: rateLimitStore({
        redis,
        breaker: redisBreaker,
        namespace,
        log: app.log,
        maxClients: config.RATE_LIMIT_MAX_CLIENTS,
      }),
    });
  },
  { name: 'rate-limit', dependencies: ['error-handler'] },
);

/**
 * Trades per user per minute, instead of the general limit:
 * `config: { permission: 'write', rateLimit: tradeRateLimit(config) }`. 0 → the general limit.
 */
export function tradeRateLimit(
  config: Pick<Config, 'TRADE_RATE_LIMIT_PER_MINUTE'>,
): RateLimitOptions | undefined {
  if (config.TRADE_RATE_LIMIT_PER_MINUTE === 0) return undefined;
  return { max: config.TRADE_RATE_LIMIT_PER_MINUTE, timeWindow: MINUTE_MS };
}

/**
 * New comments per user per minute (comment spam), instead of the general limit; 0 → the general limit.
 */
export function commentRateLimit(
  config: Pick<Config, 'COMMENT_RATE_LIMIT_PER_MINUTE'>,
): RateLimitOptions | undefined {
  if (config.COMMENT_RATE_LIMIT_PER_MINUTE === 0) return undefined;
  return { max: config.COMMENT_RATE_LIMIT_PER_MINUTE, timeWindow: MINUTE_MS };
}

/**
 * Login attempts per client IP, whoever they claim to be: `config: { rateLimit: loginRateLimit(config) }`.
 * Pair it with `preHandler: loginEmailRateLimit(app, config)`, which limits per target account.
 */
export function loginRateLimit(
  config: Pick<Config, 'LOGIN_RATE_LIMIT_PER_MINUTE'>,
): RateLimitOptions | undefined {
  if (config.LOGIN_RATE_LIMIT_PER_MINUTE === 0) return undefined;
  return { max: config.LOGIN_RATE_LIMIT_PER_MINUTE, timeWindow: MINUTE_MS, keyGenerator: clientIpKey };
}

/**
 * Login attempts per email (case-insensitive), from any number of IPs: stops password guessing
 * spread over a botnet. A preHandler, because the email is in the body, parsed after onRequest.
 */
export function loginEmailRateLimit(
  app: FastifyInstance,
  config: Pick<Config, 'LOGIN_RATE_LIMIT_PER_MINUTE'>,
): preHandlerAsyncHookHandler {
  if (config.LOGIN_RATE_LIMIT_PER_MINUTE === 0) return async () => {};
  const check = app.createRateLimit({
    max: config.LOGIN_RATE_LIMIT_PER_MINUTE,
    timeWindow: MINUTE_MS,
    keyGenerator: (request) => {
      const email = (request.body as { email?: unknown } | undefined)?.email;
      return `login-email:${typeof email === 'string' ? email.trim().toLowerCase() : ''}`;
    },
  });
  return async (request, reply) => {
    const result = await check(request);
    if (result.isAllowed || !result.isExceeded) return;
    reply.header('ratelimit-limit', result.max);
    reply.header('ratelimit-remaining', 0);
    reply.header('ratelimit-reset', result.ttlInSeconds);
    reply.header('retry-after', result.ttlInSeconds);
    throw rateLimited(`${result.ttlInSeconds} seconds`);
  };
}
