import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { freePort } from '../../scripts/lib/cluster/ports.ts';

/** The shared Redis the Redis tests run against (.ci/run sets it when 127.0.0.1:6379 answers). */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL;

/** `skip` option for Redis suites: false when Redis is there, else the reason. */
export const skipWithoutRedis: false | string = TEST_REDIS_URL
  ? false
  : 'TEST_REDIS_URL is not set: Redis tests need a real Redis (e.g. redis://127.0.0.1:6379)';

export const skipWithoutRedisServer: false | string =
  spawnSync('redis-server', ['--version']).status === 0
    ? false
    : 'redis-server is not installed: the outage tests start and stop their own Redis';

/** A key prefix unique to this run, so parallel runs and other developers never share keys. */
export function uniqueKeyPrefix(): string {
  return `markets-test:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

/** Deletes every key under the prefix. */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export { type OwnRedis, ownRedisServer } from '../../scripts/lib/cluster/redis.ts';
export { freePort };
