import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Cache } from './cache.ts';

export interface MemoryCacheOptions {
  maxEntries?: number;
  /** Approximate heap the keys and values may hold. */
  maxBytes?: number;
}

/** How long a fill may take before its lease lapses (a lapsed fill is simply not stored). */
const LEASE_TTL_MS = 10_000;

/**
 * The in-process cache, bounded by entry count and by bytes so it cannot grow without limit.
 * Only for a single instance: with several, another instance's write could not reach it.
 */
export function createMemoryCache({
  maxEntries = 10_000,
  maxBytes = 64 * 1024 * 1024,
}: MemoryCacheOptions = {}): Cache {
  const entries = new LRUCache<string, string>({
    max: maxEntries,
    maxSize: maxBytes,
    // A JavaScript string holds about two bytes per code unit.
    sizeCalculation: (value, key) => (value.length + key.length) * 2,
  });
  const leases = new LRUCache<string, string>({ max: maxEntries, ttl: LEASE_TTL_MS });

  return {
    kind: 'memory',
    async get(key) {
      return entries.get(key);
    },
    async set(key, value, ttlSeconds) {
      entries.set(key, value, { ttl: ttlSeconds * 1000 });
    },
    async delete(keys) {
      for (const key of keys) {
        entries.delete(key);
        leases.delete(key);
      }
    },
    async lease(key) {
      const token = randomUUID();
      leases.set(key, token);
      return token;
    },
    async fill(key, token, value, ttlSeconds) {
      if (leases.get(key) !== token) return false;
      leases.delete(key);
      if (value !== undefined) entries.set(key, value, { ttl: ttlSeconds * 1000 });
      return true;
    },
    async raiseTo(key, value) {
      const current = Number(entries.get(key));
      if (!(current >= value)) entries.set(key, String(value));
    },
    async clear() {
      entries.clear();
      leases.clear();
    },
    async ping() {},
    onReady() {},
    onLost() {},
  };
}
