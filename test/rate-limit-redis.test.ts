import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Cluster, startInstances } from './helpers/instances.ts';
import {
  deleteKeys,
  type OwnRedis,
  ownRedisServer,
  skipWithoutRedis,
  skipWithoutRedisServer,
  TEST_REDIS_URL,
  uniqueKeyPrefix,
} from './helpers/redis.ts';

describe('rate limiting with Redis shared by two instances', { skip: skipWithoutRedis }, () => {
  let cluster: Cluster;
  const prefix = uniqueKeyPrefix();

  before(async () => {
    cluster = await startInstances('pglite', 2, {
      REDIS_URL: TEST_REDIS_URL!,
      REDIS_KEY_PREFIX: prefix,
      RATE_LIMIT_PER_MINUTE: '6',
      // Counted in Redis even on a loaded machine: a command slower than the default 500 ms would
      // open the circuit and count that request in the instance's memory instead.
      REDIS_COMMAND_TIMEOUT_MS: '5000',
    });
  });
  after(async () => {
    await cluster.close();
    await deleteKeys(TEST_REDIS_URL!, prefix);
  });

  test('one budget holds across instances: alternating between them does not double it', async () => {
    const [a, b] = cluster.instances;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const instance = i % 2 === 0 ? a! : b!;
      const res = await instance.app.inject({
        method: 'GET',
        url: '/api/markets',
        remoteAddress: '192.0.2.77',
      });
      statuses.push(res.statusCode);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 429, 429]);
    const other = await b!.app.inject({ method: 'GET', url: '/api/markets', remoteAddress: '192.0.2.78' });
    assert.equal(other.headers['ratelimit-remaining'], '5', 'another client has its own budget');
  });

  test('a burst at once on both instances passes exactly the budget, each hit told its own remainder', async () => {
    // The hits of one turn are counted by one command per instance: each must still get the
    // count it would have got alone.
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        cluster.instances[i % 2]!.app.inject({
          method: 'GET',
          url: '/api/markets',
          remoteAddress: '192.0.2.79',
        }),
      ),
    );
    const passed = responses.filter((res) => res.statusCode === 200);
    assert.equal(passed.length, 6, 'the budget of 6, not one more');
    assert.equal(responses.filter((res) => res.statusCode === 429).length, 4);
    assert.deepEqual(
      passed.map((res) => Number(res.headers['ratelimit-remaining'])).sort(),
      [0, 1, 2, 3, 4, 5],
      'every hit that passed was counted once',
    );
  });
});

describe('rate limiting while Redis is down', { skip: skipWithoutRedisServer }, () => {
  let redis: OwnRedis;
  let cluster: Cluster;

  before(async () => {
    redis = await ownRedisServer();
    cluster = await startInstances('pglite', 1, {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: uniqueKeyPrefix(),
      RATE_LIMIT_PER_MINUTE: '4',
    });
  });
  after(async () => {
    await cluster?.close();
    await redis?.dispose();
  });

  test('requests are still served and limited per instance in memory, and the switch is logged once', async () => {
    const [app] = cluster.instances;
    const hit = () => app!.app.inject({ method: 'GET', url: '/api/markets', remoteAddress: '192.0.2.90' });
    assert.equal((await hit()).statusCode, 200, 'counted in Redis');
    await redis.stop();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await hit()).statusCode);
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    const fallbacks = app!.logs.filter((l) => String(l.msg).startsWith('rate limiter: Redis unreachable'));
    assert.equal(fallbacks.length, 1);
  });
});
