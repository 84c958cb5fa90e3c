import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { coalescedPerTurn } from '../coalesced-per-turn.ts';
import type { Cache } from './cache.ts';

/** How long a fill may take before its lease lapses (a lapsed fill is simply not stored). */
const LEASE_TTL_MS = 10_000;

// Store the value only if our lease is still there: a delete in between removed it.
const FILL_IF_LEASED = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
if ARGV[2] == '1' then
  if tonumber(ARGV[4]) > 0 then
    redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
  else
    redis.call('SET', KEYS[1], ARGV[3])
  end
end
return 1
`;

// A cursor only moves forward, whichever instance writes it last.
const RAISE_TO = `
local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
`;

/**
 * The shared cache: every instance reads and invalidates the same keys, so a write through one
 * instance is seen by the next read through any other. Keys live under `namespace`.
 */
export function createRedisCache(redis: Redis, namespace: string): Cache {
  const k = (key: string) => namespace + key;
  const leaseKey = (key: string) => `${namespace}lease:${key}`;
  const everyKey = `${namespace.replace(/[*?[\]\\]/g, '\\$&')}*`;
  // The hits of one turn are one MGET: one command for Redis to run and this process to parse.
  const get = coalescedPerTurn(async (keys: string[]) =>
    (await redis.mget(keys.map(k))).map((value) => value ?? undefined),
  );

  return {
    kind: 'redis',
    get,
    async set(key, value, ttlSeconds) {
      if (ttlSeconds > 0) await redis.set(k(key), value, 'EX', ttlSeconds);
      else await redis.set(k(key), value);
    },
    async delete(keys) {
      if (keys.length === 0) return;
      await redis.del(...keys.flatMap((key) => [k(key), leaseKey(key)]));
    },
    async lease(key) {
      const token = randomUUID();
      await redis.set(leaseKey(key), token, 'PX', LEASE_TTL_MS);
      return token;
    },
    async fill(key, token, value, ttlSeconds) {
      const stored = await redis.eval(
        FILL_IF_LEASED,
        2,
        k(key),
        leaseKey(key),
        token,
        value === undefined ? '0' : '1',
        value ?? '',
        String(ttlSeconds),
      );
      return stored === 1;
    },
    async raiseTo(key, value) {
      await redis.eval(RAISE_TO, 1, k(key), String(value));
    },
    async clear() {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', everyKey, 'COUNT', 500);
        if (keys.length > 0) await redis.unlink(...keys);
        cursor = next;
      } while (cursor !== '0');
    },
    async ping() {
      if (redis.status !== 'ready') throw new Error(`redis is ${redis.status}`);
      await redis.ping();
    },
    onReady(listener) {
      redis.on('ready', listener);
    },
    onLost(listener) {
      redis.on('close', listener);
    },
  };
}
