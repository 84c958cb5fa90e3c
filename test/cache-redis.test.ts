import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { databaseKinds } from './helpers/databases.ts';
import { backgroundQuiet, eventually } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';
import { body, type Cluster, json, startInstances } from './helpers/instances.ts';
import {
  deleteKeys,
  type OwnRedis,
  ownRedisServer,
  skipWithoutRedis,
  skipWithoutRedisServer,
  TEST_REDIS_URL,
  uniqueKeyPrefix,
} from './helpers/redis.ts';

for (const kind of databaseKinds()) {
  describe(`two instances sharing Redis (${kind})`, { skip: skipWithoutRedis }, () => {
    let cluster: Cluster;
    const prefix = uniqueKeyPrefix();

    before(async () => {
      cluster = await startInstances(kind, 2, {
        REDIS_URL: TEST_REDIS_URL!,
        REDIS_KEY_PREFIX: prefix,
        RATE_LIMIT_PER_MINUTE: '0',
        // Its queries would count against "answered from the cache"; it runs at start and reconnect anyway.
        CACHE_FOLLOW_INTERVAL_MS: '60000',
      });
    });
    after(async () => {
      await cluster.close();
      await deleteKeys(TEST_REDIS_URL!, prefix);
    });

    test('a write through one instance is seen by the next read through the other', async () => {
      const [a, b] = cluster.instances as [(typeof cluster.instances)[0], (typeof cluster.instances)[0]];
      const alice = await cluster.user();
      const created = await body(
        await a.fetch('/api/markets', json(marketBody({ slug: `shared-${Date.now()}` }), alice.auth)),
      );
      const { id, slug } = created.data;
      const read = async (path: string) => body(await b.fetch(path));
      const listed = async () =>
        (await read('/api/markets?limit=100')).data.find((m: { id: string }) => m.id === id);

      // B fills the shared cache; A then writes.
      assert.equal((await read(`/api/markets/${id}`)).data.name, created.data.name);
      await read(`/api/markets/${slug}`);
      assert.ok(await listed(), 'a new market is on the other instance’s first page at once');
      // A's commit woke B's event-log reader (NOTIFY): its read is not B's answer.
      await backgroundQuiet(b.database.stats);
      const queries = b.database.stats.queries;
      await read(`/api/markets/${id}`);
      assert.equal(b.database.stats.queries, queries, 'B answers from the shared cache');

      const patched = await a.fetch(`/api/markets/${id}`, {
        ...json({ name: 'Changed through instance A' }, alice.auth),
        method: 'PATCH',
      });
      assert.equal(patched.status, 200);
      assert.equal((await read(`/api/markets/${id}`)).data.name, 'Changed through instance A');
      assert.equal((await read(`/api/markets/${slug}`)).data.name, 'Changed through instance A');
      assert.equal((await listed()).name, 'Changed through instance A');

      const deleted = await a.fetch(`/api/markets/${id}`, { method: 'DELETE', headers: alice.auth });
      assert.equal(deleted.status, 204);
      assert.equal((await b.fetch(`/api/markets/${id}`)).status, 404);
      assert.equal((await b.fetch(`/api/markets/${slug}`)).status, 404);
      assert.equal(await listed(), undefined);
    });
  });
}

describe('the cache while Redis is down', { skip: skipWithoutRedisServer }, () => {
  let redis: OwnRedis;
  let cluster: Cluster;
  const prefix = uniqueKeyPrefix();

  before(async () => {
    redis = await ownRedisServer();
    cluster = await startInstances('pglite', 1, {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: prefix,
      RATE_LIMIT_PER_MINUTE: '0',
      CACHE_FOLLOW_INTERVAL_MS: '60000',
    });
  });
  after(async () => {
    await cluster?.close();
    await redis?.dispose();
  });

  test('requests are answered from the database, warned about once, readiness is degraded, and it recovers', async () => {
    const [app] = cluster.instances as [(typeof cluster.instances)[0]];
    const alice = await cluster.user();
    const { data: market } = await body(await app.fetch('/api/markets', json(marketBody(), alice.auth)));
    await app.fetch(`/api/markets/${market.id}`);
    const cachedKey = `${prefix}cache:market:id:${market.id}`;
    assert.ok(await redis.withClient((direct) => direct.exists(cachedKey)), 'the row was cached in Redis');
    await redis.save(); // so Redis comes back with the old row still in it

    await redis.stop();
    for (let i = 0; i < 20; i++) {
      const res = await app.fetch(`/api/markets/${market.id}`);
      assert.equal(res.status, 200);
      assert.equal((await body(res)).data.id, market.id);
    }
    const patched = await app.fetch(`/api/markets/${market.id}`, {
      ...json({ name: 'Renamed while Redis was down' }, alice.auth),
      method: 'PATCH',
    });
    assert.equal(patched.status, 200, 'writes go on; the invalidation is in the event log');
    assert.equal(
      (await body(await app.fetch(`/api/markets/${market.id}`))).data.name,
      'Renamed while Redis was down',
    );

    const warnings = app.logs.filter((l) => l.level === 40 && String(l.msg).startsWith('cache unavailable'));
    assert.equal(warnings.length, 1, 'one warning per interval, not one per request');
    const ready = await app.fetch('/readyz');
    assert.equal(ready.status, 200, 'the cache being down does not make the instance unready');
    const readiness = await body(ready);
    assert.equal(readiness.status, 'degraded');
    assert.equal(readiness.checks.database, 'ok');
    assert.match(readiness.checks.cache, /^degraded/);

    // Redis comes back with the old row still in it (from its snapshot, loaded before it accepts anyone).
    await redis.start();
    await eventually(
      async () => (await body(await app.fetch('/readyz'))).status === 'ok',
      10_000,
      'reconnect',
    );

    const res = await app.fetch(`/api/markets/${market.id}`);
    assert.equal(
      (await body(res)).data.name,
      'Renamed while Redis was down',
      'the invalidation owed to Redis was applied from the event log',
    );
    // Redis's reconnection and the breaker's closing each trigger a catch-up (breaker-cache.ts
    // onReady), and /readyz is ok after the first: let any later one finish before counting.
    await backgroundQuiet(app.database.stats);
    const queries = app.database.stats.queries;
    await app.fetch(`/api/markets/${market.id}`);
    assert.equal(app.database.stats.queries, queries, 'served from Redis again');
  });
});
