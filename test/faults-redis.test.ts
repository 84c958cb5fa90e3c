import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';
import { body, type Cluster, type Instance, json, startInstances } from './helpers/instances.ts';
import { type OwnRedis, ownRedisServer, skipWithoutRedisServer, uniqueKeyPrefix } from './helpers/redis.ts';

/** Concurrent clients, each sending its next request when the last one is answered (closed loop). */
const CONNECTIONS = 10;
/** How long each fault is held under load (the issue measured 10 s; shorter keeps CI fast). */
const FAULT_MS = 6000;
/** How long a command to a hung Redis waits before it fails and opens the circuit. */
const COMMAND_TIMEOUT_MS = 500;

interface LoadResult {
  latencies: number[];
  statuses: Map<number, number>;
  /** Requests that got no HTTP answer at all (reset, refused). */
  failures: number;
}

async function load(instance: Instance, paths: string[], ms: number): Promise<LoadResult> {
  const result: LoadResult = { latencies: [], statuses: new Map(), failures: 0 };
  const deadline = Date.now() + ms;
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (Date.now() < deadline) {
        const path = paths[next++ % paths.length]!;
        const started = performance.now();
        try {
          const res = await instance.fetch(path);
          await res.arrayBuffer();
          result.latencies.push(performance.now() - started);
          result.statuses.set(res.status, (result.statuses.get(res.status) ?? 0) + 1);
        } catch {
          result.failures++;
        }
      }
    }),
  );
  return result;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const summary = (r: LoadResult) => ({
  requests: r.latencies.length,
  p50: Math.round(percentile(r.latencies, 50)),
  p99: Math.round(percentile(r.latencies, 99)),
  max: Math.round(Math.max(...r.latencies)),
  statuses: Object.fromEntries(r.statuses),
  failures: r.failures,
});

function assertNo5xx(r: LoadResult, what: string) {
  const fiveXx = [...r.statuses].filter(([status]) => status >= 500);
  assert.deepEqual(fiveXx, [], `${what}: no 5xx`);
  assert.equal(r.failures, 0, `${what}: every request answered`);
}

describe('Redis stopped, frozen and restarted under load', { skip: skipWithoutRedisServer }, () => {
  let redis: OwnRedis;
  let cluster: Cluster;
  let app: Instance;
  const prefix = uniqueKeyPrefix();
  const paths: string[] = [];
  let probeMarket: string;

  before(async () => {
    redis = await ownRedisServer();
    cluster = await startInstances('pglite', 1, {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: prefix,
      REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      // High enough never to refuse the load, so every request still counts in the rate limiter's store.
      RATE_LIMIT_PER_MINUTE: '10000000',
    });
    app = cluster.instances[0]!;
    const alice = await cluster.user();
    for (let i = 0; i < 12; i++) {
      const { data } = await body(await app.fetch('/api/markets', json(marketBody(), alice.auth)));
      paths.push(`/api/markets/${data.id}`, `/api/markets/${data.slug}`);
    }
    paths.push('/api/markets?limit=20');
    probeMarket = paths[0]!;
  });
  after(async () => {
    redis?.thaw();
    await cluster?.close();
    await redis?.dispose();
  });

  /** The next reads are answered by Redis (no SQL) and counted there, without restarting the app. */
  async function usesRedisAgain(what: string) {
    await redis.withClient((direct) =>
      eventually(
        async () => {
          await app.fetch(probeMarket);
          const queries = app.database.stats.queries;
          const res = await app.fetch(probeMarket);
          const counted = await direct.keys(`${prefix}rate-limit:*`);
          return res.status === 200 && app.database.stats.queries === queries && counted.length > 0;
        },
        15_000,
        `${what}: cache and rate limiter on Redis again`,
      ),
    );
  }

  test('a frozen Redis costs the requests in flight one command timeout, nothing after, and the app goes back to Redis after either', async () => {
    await load(app, paths, 1000); // warm: rows and pages cached in Redis

    await redis.stop();
    const down = await load(app, paths, FAULT_MS);
    await redis.start(); // without its data: nothing was saved
    await usesRedisAgain('restarted without its data');

    await load(app, paths, 500);
    redis.freeze();
    const frozen = await load(app, paths, FAULT_MS);
    const ready = await body(await app.fetch('/readyz'));
    assert.equal(ready.status, 'degraded', 'a hung cache is degraded, not unready');
    assert.equal(ready.circuits.redis, 'open');
    assert.match(await (await app.fetch('/metrics')).text(), /circuit_breaker_open\{dependency="redis"\} 1/);
    redis.thaw();
    await usesRedisAgain('thawed');
    assert.equal((await body(await app.fetch('/readyz'))).circuits.redis, 'closed');

    await redis.save();
    await redis.stop();
    await sleep(500);
    await redis.start(); // with its data, from the snapshot
    await usesRedisAgain('restarted with its data');

    const figures = { down: summary(down), frozen: summary(frozen) };
    console.log(`redis faults under load (${CONNECTIONS} connections, ${FAULT_MS} ms each):`, figures);
    assertNo5xx(down, 'Redis stopped');
    assertNo5xx(frozen, 'Redis frozen');
    // A freeze costs the requests already waiting on Redis one command timeout each (at most one per
    // connection: the first timeout opens the circuit), and nothing after that. A p99 bound cannot say
    // this: on a slow run those few requests are more than 1 % of the load (CI saw a frozen p99 of
    // 581 ms against 176 ms stopped). Before the circuit breaker every request waited, for seconds.
    const usual = figures.down.p99 + 300;
    const slow = frozen.latencies.filter((ms) => ms > usual);
    assert.ok(
      slow.length <= CONNECTIONS,
      `${slow.length} frozen requests took over ${usual} ms; only the ${CONNECTIONS} in flight at the freeze may`,
    );
    const slowest = figures.frozen.max;
    assert.ok(
      slowest <= COMMAND_TIMEOUT_MS + usual,
      `the slowest frozen request took ${slowest} ms, more than one command timeout (${COMMAND_TIMEOUT_MS} ms) over ${usual} ms`,
    );
  });

  test('/readyz logs that the cache is degraded once per outage, not once per probe', async () => {
    const degraded = () =>
      app.logs.filter((l) => String(l.msg).startsWith('readiness check degraded: cache'));
    const recovered = () =>
      app.logs.filter((l) => String(l.msg).startsWith('readiness check recovered: cache'));
    const before = { degraded: degraded().length, recovered: recovered().length };
    await redis.stop();
    for (let i = 0; i < 20; i++) {
      assert.equal((await body(await app.fetch('/readyz'))).status, 'degraded');
      await sleep(50);
    }
    assert.equal(degraded().length - before.degraded, 1, 'one warning for 20 probes');
    await redis.start();
    await eventually(async () => (await body(await app.fetch('/readyz'))).status === 'ok', 15_000, 'ready');
    for (let i = 0; i < 5; i++) await app.fetch('/readyz');
    assert.equal(recovered().length - before.recovered, 1, 'and one line when it is back');
    assert.equal(degraded().length - before.degraded, 1);
  });
});
