import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { CircuitBreaker } from '../lib/circuit-breaker.ts';
import { coalescedPerTurn } from '../lib/coalesced-per-turn.ts';

type Incr = FastifyRateLimitStore['incr'];
type Counted = { current: number; ttl: number };

// Fixed window: the first hits of a window (ARGV[2] of them at once) set its expiry; PTTL says
// when it resets.
const INCR_FIXED_WINDOW = `
local current = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if current == tonumber(ARGV[2]) or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`;

const INCR_COMMAND = 'marketsRateLimitIncr';

/**
 * Fixed-window counters in this process for one limiter, bounded by `maxClients`. Eviction must
 * not hand anyone a fresh budget: an attacker who could flush the table (requests from many
 * addresses, or logins naming many emails) could otherwise reset a locked login, or a counter
 * just under its limit, at will. So a window is only ever dropped once it has ended; when every
 * slot holds a live window, a client not yet in the table is refused (429, retry when the
 * oldest window ends) rather than let in uncounted. The table frees up within one window.
 * Windows sit in the Map in the order they started, so the ended ones are found at its head.
 */
function memoryCounter(maxClients: number, onFull: () => void) {
  const windows = new Map<string, { current: number; resetAt: number }>();
  const dropEnded = (now: number) => {
    for (const [key, window] of windows) {
      if (window.resetAt > now) break;
      windows.delete(key);
    }
  };
  return (key: string, timeWindow: number, max: number): Counted => {
    const now = Date.now();
    const window = windows.get(key);
    if (window && window.resetAt > now) {
      window.current++;
      return { current: window.current, ttl: window.resetAt - now };
    }
    if (window) windows.delete(key); // re-inserted below, at the tail where new windows go
    if (windows.size >= maxClients) dropEnded(now);
    if (windows.size >= maxClients) {
      onFull();
      const oldest = windows.values().next().value!;
      return { current: max + 1, ttl: Math.max(1, oldest.resetAt - now) };
    }
    windows.set(key, { current: 1, resetAt: now + timeWindow });
    return { current: 1, ttl: timeWindow };
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
  /** Clients each limiter tracks in memory (also the fallback while Redis is down). */
  maxClients: number;
}

/**
 * A store for @fastify/rate-limit that counts in Redis when it has one and falls back to memory
 * while Redis is unreachable, so an outage weakens the limit to per-instance instead of failing
 * every request. Each switch is logged once. Every limiter (the global one, each route preset,
 * the per-email login check) gets its own store, so traffic on one cannot crowd out another's
 * counters. In Redis each counter is its own key that expires with its window.
 */
export function rateLimitStore({
  redis,
  breaker,
  namespace,
  log,
  maxClients,
}: RateLimitStoreOptions): FastifyRateLimitStoreCtor {
  let degraded = false;
  let fullWarned = 0;
  // One warning a minute at most while a table is full: it is an attack or a limit set too low.
  const onFull = () => {
    if (Date.now() - fullWarned < 60_000) return;
    fullWarned = Date.now();
    log.warn(
      { maxClients },
      'rate limiter: memory table full, refusing new clients until windows end (raise RATE_LIMIT_MAX_CLIENTS or set REDIS_URL)',
    );
  };
  // A named script runs by its hash (EVALSHA): the script text is not resent on every request.
  if (redis && !(INCR_COMMAND in redis)) {
    redis.defineCommand(INCR_COMMAND, { numberOfKeys: 1, lua: INCR_FIXED_WINDOW });
  }
  const incrInRedis = redis as unknown as Record<
    typeof INCR_COMMAND,
    (key: string, windowMs: number, hits: number) => Promise<unknown>
  >;

  /**
   * The hits of one turn on one counter are one INCRBY: the i-th of n gets the count it would
   * have got alone (the total less n, plus i), so the limit is exactly as strict as a command per
   * hit, for a fraction of the commands (under load, every request of a turn from one client).
   */
  const countInRedis = coalescedPerTurn(async (hits: { key: string; timeWindow: number }[]) => {
    const perKey = new Map<string, { timeWindow: number; hits: number; next: number; ttl: number }>();
    for (const { key, timeWindow } of hits) {
      const counter = perKey.get(key);
      if (counter) counter.hits++;
      else perKey.set(key, { timeWindow, hits: 1, next: 0, ttl: 0 });
    }
    await Promise.all(
      [...perKey].map(async ([key, counter]) => {
        const incr = () => incrInRedis[INCR_COMMAND](namespace + key, counter.timeWindow, counter.hits);
        const [total, ttl] = (await (breaker ? breaker.run(incr) : incr())) as [number, number];
        counter.next = total - counter.hits + 1;
        counter.ttl = ttl;
      }),
    );
    return hits.map(({ key }): Counted => {
      const counter = perKey.get(key)!;
      return { current: counter.next++, ttl: counter.ttl };
    });
  });

  function fallBack(error: unknown) {
    if (degraded) return;
    degraded = true;
    log.warn(
      { err: error },
      'rate limiter: Redis unreachable, counting in memory per instance until it is back',
    );
  }

  function count(
    memory: ReturnType<typeof memoryCounter>,
    key: string,
    timeWindow: number,
    max: number,
    callback: Parameters<Incr>[1],
  ) {
    if (!redis) return callback(null, memory(key, timeWindow, max));
    if (redis.status !== 'ready') {
      fallBack(new Error(`redis is ${redis.status}`));
      return callback(null, memory(key, timeWindow, max));
    }
    countInRedis({ key, timeWindow }).then(
      (counted) => {
        if (degraded) {
          degraded = false;
          log.info('rate limiter: back on Redis');
        }
        callback(null, counted);
      },
      (error: unknown) => {
        fallBack(error);
        callback(null, memory(key, timeWindow, max));
      },
    );
  }

  return class FallbackStore implements FastifyRateLimitStore {
    readonly #prefix: string;
    readonly #memory = memoryCounter(maxClients, onFull);

    /** The plugin constructs the store with its settings, which this store does not need. */
    constructor(_pluginSettings?: unknown, prefix = '') {
      this.#prefix = prefix;
    }

    incr(key: string, callback: Parameters<Incr>[1], timeWindow: number, max: number) {
      count(this.#memory, this.#prefix + key, timeWindow, max, callback);
    }

    /** Routes with their own limit count separately from the global budget. */
    child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]) {
      // The plugin passes its merged settings, which carry the route as `routeInfo`.
      const route = (routeOptions as { routeInfo?: { method?: string; url?: string } }).routeInfo;
      return new FallbackStore(undefined, `${this.#prefix}${route?.method ?? ''}${route?.url ?? ''}:`);
    }
  };
}
