import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { CircuitBreaker } from '../lib/circuit-breaker.ts';

type Incr = FastifyRateLimitStore['incr'];
type Counted = { current: number; ttl: number };

// Fixed window: the first hit of a window sets its expiry; PTTL says when it resets.
const INCR_FIXED_WINDOW = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if current == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`;

const INCR_COMMAND = 'marketsRateLimitIncr';

/** Fixed-window counters in this process, bounded: the least recently seen clients are dropped first. */
function memoryCounter(maxClients: number) {
  const windows = new LRUCache<string, { current: number; resetAt: number }>({ max: maxClients });
  return (key: string, timeWindow: number): Counted => {
    const now = Date.now();
    let window = windows.get(key);
    if (!window || window.resetAt <= now) {
      window = { current: 0, resetAt: now + timeWindow };
      windows.set(key, window);
    }
    window.current++;
    return { current: window.current, ttl: window.resetAt - now };
  };
}

export interface RateLimitStoreOptions {
  /** Set: counters in Redis, one budget across every instance; unset: in memory. */
  redis?: Redis | undefined;
  /** Redis's circuit: while open, counting goes to memory without waiting out a command timeout. */
  breaker?: Pick<CircuitBreaker, 'run'> | undefined;
  /** Prefix of the Redis keys. */
  namespace: string;
  log: FastifyBaseLogger;
  /** Clients tracked by the memory store (also the fallback while Redis is down). */
  maxClients?: number;
}

/**
 * A store for @fastify/rate-limit that counts in Redis when it has one and falls back to memory
 * while Redis is unreachable, so an outage weakens the limit to per-instance instead of failing
 * every request. Each switch is logged once.
 */
export function rateLimitStore({
  redis,
  breaker,
  namespace,
  log,
  maxClients = 10_000,
}: RateLimitStoreOptions): FastifyRateLimitStoreCtor {
  const memory = memoryCounter(maxClients);
  let degraded = false;
  // A named script runs by its hash (EVALSHA): the script text is not resent on every request.
  if (redis && !(INCR_COMMAND in redis)) {
    redis.defineCommand(INCR_COMMAND, { numberOfKeys: 1, lua: INCR_FIXED_WINDOW });
  }
  const incrInRedis = redis as unknown as Record<
    typeof INCR_COMMAND,
    (key: string, windowMs: number) => Promise<unknown>
  >;

  function fallBack(error: unknown) {
    if (degraded) return;
    degraded = true;
    log.warn(
      { err: error },
      'rate limiter: Redis unreachable, counting in memory per instance until it is back',
    );
  }

  function count(key: string, timeWindow: number, callback: Parameters<Incr>[1]) {
    if (!redis) return callback(null, memory(key, timeWindow));
    if (redis.status !== 'ready') {
      fallBack(new Error(`redis is ${redis.status}`));
      return callback(null, memory(key, timeWindow));
    }
    const incr = () => incrInRedis[INCR_COMMAND](namespace + key, timeWindow);
    (breaker ? breaker.run(incr) : incr()).then(
      (result) => {
        if (degraded) {
          degraded = false;
          log.info('rate limiter: back on Redis');
        }
        const [current, ttl] = result as [number, number];
        callback(null, { current, ttl });
      },
      (error: unknown) => {
        fallBack(error);
        callback(null, memory(key, timeWindow));
      },
    );
  }

  return class FallbackStore implements FastifyRateLimitStore {
    readonly #prefix: string;

    /** The plugin constructs the store with its settings, which this store does not need. */
    constructor(_pluginSettings?: unknown, prefix = '') {
      this.#prefix = prefix;
    }

    incr(key: string, callback: Parameters<Incr>[1], timeWindow: number) {
      count(this.#prefix + key, timeWindow, callback);
    }

    /** Routes with their own limit count separately from the global budget. */
    child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]) {
      // The plugin passes its merged settings, which carry the route as `routeInfo`.
      const route = (routeOptions as { routeInfo?: { method?: string; url?: string } }).routeInfo;
      return new FallbackStore(undefined, `${this.#prefix}${route?.method ?? ''}${route?.url ?? ''}:`);
    }
  };
}
