import type { FastifyBaseLogger } from 'fastify';
import { LRUCache } from 'lru-cache';
import { deepFreeze } from '../deep-freeze.ts';

/**
 * The cache port: string values with a TTL. memory-cache.ts keeps them in this process (the
 * default); redis-cache.ts in Redis, shared by every instance (REDIS_URL). Methods reject when the
 * backing store is unreachable; `createCacheAside` turns that into "serve from the database".
 */
export interface Cache {
  readonly kind: 'memory' | 'redis';
  get(key: string): Promise<string | undefined>;
  /** ttlSeconds 0 = no expiry (the entry can still be evicted). */
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** Deletes the keys and voids every lease taken on them (see `lease`). */
  delete(keys: readonly string[]): Promise<void>;
  /**
   * Starts filling `key` from the source of truth. `fill` stores the value only if no `delete(key)`
   * happened in between, so a read that raced a write cannot put the pre-write row back.
   */
  lease(key: string): Promise<string>;
  /** Stores `value` (if defined) when the lease still holds; returns whether it held. */
  fill(key: string, token: string, value: string | undefined, ttlSeconds: number): Promise<boolean>;
  /** Sets `key` (no expiry) to `value` unless it already holds a larger number: a cursor that never goes back. */
  raiseTo(key: string, value: number): Promise<void>;
  /** Drops every entry this service wrote (the fallback when too many invalidations were missed). */
  clear(): Promise<void>;
  /** Rejects when the cache cannot serve; readiness reports that as degraded. */
  ping(): Promise<void>;
  /** Called whenever the store becomes reachable again (Redis reconnected). */
  onReady(listener: () => void): void;
  /** Called whenever the connection to the store is lost (it may come back holding older data). */
  onLost(listener: () => void): void;
}

/** Counters exported on /metrics. */
export interface CacheStats {
  hits: number;
  misses: number;
  errors: number;
}

export interface ReadSpec<T> {
  key: string;
  ttlSeconds: number;
  load: () => Promise<T | undefined>;
  encode: (value: T) => string;
  decode: (text: string) => T;
  /**
   * Take a lease so a concurrent delete voids the fill. Keys that embed a generation token
   * (list pages) do not need one: a write rotates the token, orphaning whatever is filled late.
   */
  leased: boolean;
}

export type CacheAside = ReturnType<typeof createCacheAside>;

interface Flight<T> {
  value: T | undefined;
  /** False when a delete may have happened while loading: a request that joined late must reload. */
  consistent: boolean;
}

/** Recently decoded values kept to answer repeated hits on the same text (the hot keys). */
const DECODED_ENTRIES = 1_000;
/**
 * And at most this much text (UTF-16 code units) among them: a decoded list page, the body sent
 * for it and its text hold some 100 KB, and every write draws a new list generation, so under a
 * mixed load a count alone let a thousand dead pages (~100 MB of heap) wait for eviction.
 */
const DECODED_TEXT = 4 * 1024 * 1024;

export interface CacheAsideOptions {
  log: FastifyBaseLogger;
  warnIntervalMs?: number;
  /**
   * True when a follower of the event log keeps the store in step with committed writes
   * (markets' cache follower, with Redis). The memory cache needs none: it cannot miss a delete.
   */
  followed?: boolean;
}

/**
 * Cache-aside reads with single-flight, counters, and a store that is trusted only while it is in
 * step with the database. Every cache failure falls back to the database; a warning is logged at
 * most once per interval.
 *
 * Invalidation: writers delete what they changed right after the commit (the fast path). When
 * that delete fails, or the connection to the store is lost (Redis may come back from a snapshot
 * holding rows changed since), this instance reads past the store, straight from the database,
 * until the follower has applied the event log up to the store's cursor (`catchUp`). Owed deletes
 * are not kept in this process: they would die with it, and the log already holds every committed
 * change for every instance to apply — one mechanism, not two.
 */
export function createCacheAside(
  cache: Cache,
  { log, warnIntervalMs = 30_000, followed = false }: CacheAsideOptions,
) {
  const stats: CacheStats = { hits: 0, misses: 0, errors: 0 };
  const flights = new Map<string, Promise<Flight<unknown>>>();
  // A followed store is behind until its first catch-up; `losses` counts reasons to distrust it.
  let inSync = !followed;
  let losses = 0;
  let lastWarning = Number.NEGATIVE_INFINITY;
  const decoded = new LRUCache<string, { text: string; value: unknown }>({
    max: DECODED_ENTRIES,
    maxSize: DECODED_TEXT,
    sizeCalculation: (entry, key) => entry.text.length + key.length,
  });

  /**
   * The value a hit's text stands for, decoded once while the cache keeps returning that text;
   * frozen, since every later hit shares it.
   */
  function decodeHit<T>(spec: ReadSpec<T>, text: string): T {
    const memo = decoded.get(spec.key);
    if (memo?.text === text) return memo.value as T;
    const value = deepFreeze(spec.decode(text));
    decoded.set(spec.key, { text, value });
    return value;
  }

  function recordError(operation: string, error: unknown) {
    stats.errors++;
    const now = Date.now();
    if (now - lastWarning < warnIntervalMs) return;
    lastWarning = now;
    log.warn(
      { err: error, operation, cache: cache.kind },
      'cache unavailable: serving from the database (logged once per interval)',
    );
  }

  async function fly<T>(spec: ReadSpec<T>): Promise<Flight<T>> {
    const since = losses;
    let token: string | undefined;
    if (spec.leased) {
      try {
        token = await cache.lease(spec.key);
      } catch (error) {
        recordError('lease', error);
        return { value: await spec.load(), consistent: false };
      }
    }
    const value = await spec.load();
    // The store went away while we loaded: it may be back from a snapshot that still holds our
    // lease, and the follower may have caught up already. A row loaded before then stays out.
    if (losses !== since) return { value, consistent: token === undefined };
    const text = value === undefined ? undefined : spec.encode(value);
    try {
      if (token !== undefined) {
        return { value, consistent: await cache.fill(spec.key, token, text, spec.ttlSeconds) };
      }
      if (text !== undefined) await cache.set(spec.key, text, spec.ttlSeconds);
    } catch (error) {
      recordError('fill', error);
      return { value, consistent: token === undefined };
    }
    return { value, consistent: true };
  }

  /** Until the follower has caught up, the store may hold what committed writes changed. */
  function fallBehind() {
    if (!followed) return;
    inSync = false;
    losses++;
  }
  cache.onLost(fallBehind);

  /** Deletes the keys or rejects (the follower must know). */
  async function deleteNow(keys: readonly string[]): Promise<void> {
    for (const key of keys) decoded.delete(key);
    await cache.delete(keys);
  }

  /** The fast path after a commit; if the delete fails, the event log delivers it (see above). */
  async function invalidate(keys: readonly string[]): Promise<void> {
    try {
      await deleteNow(keys);
    } catch (error) {
      recordError('delete', error);
      fallBehind();
    }
  }

  return {
    stats,
    kind: cache.kind,
    invalidate,
    deleteNow,
    recordError,
    /** Readiness: a store this instance does not read from yet (catching up) is degraded too. */
    async ping() {
      await cache.ping();
      if (!inSync) throw new Error('catching up with the event log');
    },
    clear: () => cache.clear(),
    onReady: (listener: () => void) => cache.onReady(listener),
    /** Plain access for bookkeeping keys (generation tokens, no expiry); rejects when the cache is down. */
    readRaw: (key: string) => cache.get(key),
    writeRaw: (key: string, value: string) => cache.set(key, value, 0),
    raiseRaw: (key: string, value: number) => cache.raiseTo(key, value),

    /**
     * Runs the follower's `work` (apply the log beyond the store's cursor). Reads use the store
     * again once a run that started after the last reason to distrust it has succeeded.
     */
    async catchUp(work: () => Promise<void>): Promise<void> {
      const since = losses;
      await work();
      if (inSync || losses !== since) return;
      inSync = true;
      log.info({ cache: cache.kind }, 'cache caught up with the event log: reading from it again');
    },

    /** Reads `key` through the cache; concurrent misses in this process share one load. */
    async read<T>(spec: ReadSpec<T>): Promise<T | undefined> {
      // Not a fill either: a load that began before the catch-up could put a stale row back.
      if (!inSync) {
        stats.misses++;
        return spec.load();
      }
      try {
        const text = await cache.get(spec.key);
        if (text !== undefined) {
          stats.hits++;
          return decodeHit(spec, text);
        }
      } catch (error) {
        recordError('get', error);
      }
      stats.misses++;

      let joined: Promise<Flight<unknown>> | undefined;
      for (;;) {
        const current = flights.get(spec.key);
        if (current && current !== joined) {
          const flight = (await current) as Flight<T>;
          // A load that started before we arrived may predate a write that finished before we
          // arrived. If a delete hit it (consistent=false), take one newer load: it started after
          // we joined this one, so it sees every write we could have observed.
          if (flight.consistent || joined) return flight.value;
          joined = current;
          continue;
        }
        const own = fly(spec);
        flights.set(spec.key, own);
        try {
          return (await own).value;
        } finally {
          if (flights.get(spec.key) === own) flights.delete(spec.key);
        }
      }
    },
  };
}

/**
 * JSON with the Date fields of database rows restored. The dates are restored by a walk after a
 * plain `JSON.parse`, not by a reviver: a reviver is called back for every value and made decoding
 * a cached list page several times slower.
 */
export function jsonCodec<T>(dateFields: ReadonlySet<string>) {
  const revive = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) revive(item);
    } else if (value !== null && typeof value === 'object') {
      const record = value as Record<string, unknown>;
      for (const key in record) {
        const field = record[key];
        if (typeof field === 'string') {
          if (dateFields.has(key)) record[key] = new Date(field);
        } else if (field !== null && typeof field === 'object') revive(field);
      }
    }
  };
  return {
    encode: (value: T) => JSON.stringify(value),
    decode: (text: string) => {
      const value = JSON.parse(text) as T;
      revive(value);
      return value;
    },
  };
}
