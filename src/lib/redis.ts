import type { FastifyBaseLogger } from 'fastify';
import { Redis, ReplyError } from 'ioredis';
import { type CircuitBreaker, createCircuitBreaker, type FailureKind } from './circuit-breaker.ts';

export interface RedisOptions {
  /** Per-command timeout: a hung Redis must not hang requests (callers fall back instead). */
  commandTimeoutMs?: number;
  /** Connection problems are logged at most once per interval, not once per retry. */
  warnIntervalMs?: number;
}

/**
 * One Redis connection per app, shared by the cache and the rate limiter. It fails commands fast
 * while disconnected (no offline queue) so callers fall back to the database / the memory store,
 * and it keeps reconnecting in the background on its own. Commands issued in the same tick go out
 * in one write (auto-pipelining): under load that halves the system time a cache hit costs.
 */
export function createRedisClient(
  url: string,
  log: FastifyBaseLogger,
  { commandTimeoutMs = 500, warnIntervalMs = 30_000 }: RedisOptions = {},
): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  let lastWarning = Number.NEGATIVE_INFINITY;
  let lost = false;
  redis.on('error', (error: Error) => {
    lost = true;
    const now = Date.now();
    if (now - lastWarning < warnIntervalMs) return;
    lastWarning = now;
    log.warn({ err: error }, 'redis unreachable; retrying in the background (logged once per interval)');
  });
  redis.on('ready', () => {
    if (!lost) return;
    lost = false;
    log.info('redis connection restored');
  });
  return redis;
}

/** ioredis rejects a command that outlives `commandTimeout` with exactly this message. */
const COMMAND_TIMED_OUT = 'Command timed out';

function classifyRedisError(error: unknown): FailureKind {
  if (error instanceof ReplyError) return 'answer'; // Redis answered, with an error about this command
  return error instanceof Error && error.message === COMMAND_TIMED_OUT ? 'timeout' : 'failure';
}

/**
 * The circuit breaker every Redis caller goes through (cache and rate limiter share it, as they
 * share the connection). A hung Redis times out like a down one fails, so both are skipped alike.
 */
export function redisCircuitBreaker(
  redis: Redis,
  log: FastifyBaseLogger,
  options: { coolDownMs?: number } = {},
): CircuitBreaker {
  return createCircuitBreaker({
    name: 'redis',
    log,
    ...options,
    classify: classifyRedisError,
    probe: async () => {
      if (redis.status !== 'ready') throw new Error(`redis is ${redis.status}`);
      await redis.ping();
    },
  });
}

/** Waits for the first connection, up to `ms`; a Redis that is down at start only degrades the app. */
export async function waitUntilReady(redis: Redis, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  let timer: NodeJS.Timeout | undefined;
  let onReady: (() => void) | undefined;
  try {
    return await new Promise<boolean>((resolve) => {
      onReady = () => resolve(true);
      redis.once('ready', onReady);
      timer = setTimeout(() => resolve(false), ms);
    });
  } finally {
    clearTimeout(timer);
    if (onReady) redis.off('ready', onReady);
  }
}

/** Closes politely when connected; otherwise just stops reconnecting. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    await redis.quit().catch(() => redis.disconnect());
  } else {
    redis.disconnect();
  }
}
