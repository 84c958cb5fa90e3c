import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { haproxyMissing } from '../scripts/lib/cluster/haproxy.ts';
import { startTopology, type Topology } from '../scripts/lib/cluster/topology.ts';
import { eventually } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';
import { assertBooksBalance, type LoadUser, makeUsers, type Query, tradeLoad } from './helpers/http-load.ts';
import { skipWithoutPostgresBinaries } from './helpers/postgres-cluster.ts';
import { skipWithoutRedisServer } from './helpers/redis.ts';
import { resumingSubscriber } from './helpers/sse-resume.ts';
import { startReceiver } from './helpers/webhook-receiver.ts';

const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/;

// The topology of `npm run cluster`, real processes all: HAProxy in front of two API processes
// (WORKERS=0), two worker processes, a PostgreSQL primary with a streaming replica, and Redis.
describe('the scaled-out topology (HAProxy, 2 API processes, 2 workers, primary + replica, Redis)', {
  skip: skipWithoutPostgresBinaries || haproxyMissing || skipWithoutRedisServer,
  timeout: 600_000,
}, () => {
  let topology: Topology;
  let pool: pg.Pool;
  let replicaAdmin: pg.Pool;
  let query: Query;
  let traders: LoadUser[];
  let creator: LoadUser;
  const acknowledged: string[] = [];
  const direct = (index: number) => `http://127.0.0.1:${topology.apis[index]!.port}`;
  const post = (base: string, path: string, body: unknown, headers: Record<string, string>) =>
    fetch(base + path, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const createMarket = async (base: string, overrides: Record<string, unknown> = {}) => {
    const res = await post(base, '/api/markets', marketBody({ liquidity: 1, ...overrides }), creator.auth);
    assert.equal(res.status, 201, await res.clone().text());
    return ((await res.json()) as { data: { id: string } }).data.id;
  };
  const tradeIdsOf = async (base: string, marketId: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}/api/markets/${marketId}/trades?limit=100`, { headers });
    assert.equal(res.status, 200, await res.clone().text());
    return ((await res.json()) as { data: { id: string }[] }).data.map((t) => t.id);
  };
  const replicaServed = async (base: string) => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return Number(
      /db_replica_reads_total\{replica="replica-1",outcome="served"\} (\d+)/.exec(text)?.[1] ?? 0,
    );
  };

  before(async () => {
    topology = await startTopology({
      instances: 2,
      workers: 2,
      replica: true,
      env: {
        NODE_ENV: 'test',
        RATE_LIMIT_PER_MINUTE: '0',
        TRADE_RATE_LIMIT_PER_MINUTE: '0',
        // Nine processes on a shared two-core machine: a trade that waits past the usual 5 s write
        // deadline answers 503 (nothing changed), which is not what the restarts are tested for.
        WRITE_DEADLINE_MS: '30000',
        // Lists straight from the database, so that where they come from shows.
        LIST_CACHE_TTL_SECONDS: '0',
        DATABASE_READ_PROBE_INTERVAL_MS: '100',
        DATABASE_READ_MAX_LAG_MS: '60000',
        DATABASE_CONNECT_TIMEOUT_MS: '1000',
        WORKER_POLL_INTERVAL_MS: '500',
        JOB_RETRY_DELAY_SECONDS: '1',
        // pg-boss's smallest heartbeat; the supervisor looks every second.
        JOB_HEARTBEAT_SECONDS: '10',
        JOB_SUPERVISE_INTERVAL_SECONDS: '1',
        WEBHOOK_HTTP_HOSTS: '127.0.0.1',
        WEBHOOK_ALLOWED_NETWORKS: '127.0.0.1/32',
        WEBHOOK_DISPATCH_INTERVAL_MS: '200',
        WEBHOOK_TIMEOUT_MS: '60000',
      },
    });
    pool = new pg.Pool({ connectionString: topology.primary.url, max: 2 });
    replicaAdmin = new pg.Pool({ connectionString: topology.replica!.url, max: 1 });
    replicaAdmin.on('error', () => {});
    query = (text, values) => pool.query(text, values);
    const users = await makeUsers(query, topology.jwtSecret, 5);
    creator = users[0]!;
    traders = users.slice(1);
    for (const base of [direct(0), direct(1)]) {
      await eventually(
        async () =>
          ((await (await fetch(`${base}/readyz`)).json()) as { replicas?: Record<string, string> })
            .replicas?.['replica-1'] === 'up',
        20_000,
        `${base} finds the replica up`,
      );
    }
  });
  after(async () => {
    const stopping = Date.now();
    await Promise.all([pool?.end(), replicaAdmin?.end()]);
    await topology?.stop();
    console.log(`# topology stopped in ${Date.now() - stopping} ms`);
  });

  test('a trade through instance A is read back through instance B: the replica serves it once it has replayed the token, the primary before', async () => {
    const marketId = await createMarket(topology.url);
    await replicaAdmin.query('select pg_wal_replay_pause()');
    let token: string;
    let tradeId: string;
    try {
      const res = await post(
        direct(0),
        `/api/markets/${marketId}/trades`,
        { outcome: 'YES', side: 'buy', amount: 5 },
        traders[0]!.auth,
      );
      assert.equal(res.status, 201);
      token = String(res.headers.get('x-consistency-token'));
      assert.match(token, LSN, 'the write answers with its consistency token');
      tradeId = ((await res.json()) as { data: { trade: { id: string } } }).data.trade.id;
      acknowledged.push(tradeId);
      // Lists come from the replica: paused, it does not have the trade for a reader without the token…
      assert.deepEqual(await tradeIdsOf(direct(1), marketId), [], 'a tokenless read on B is the replica’s');
      // …and the writer's next read on B, with its token, has it (from the primary meanwhile).
      assert.deepEqual(await tradeIdsOf(direct(1), marketId, { 'x-consistency-token': token }), [tradeId]);
    } finally {
      await replicaAdmin.query('select pg_wal_replay_resume()');
    }
    // Replayed: the same read with the token is the replica's now.
    const before = await replicaServed(direct(1));
    await eventually(
      async () =>
        (await tradeIdsOf(direct(1), marketId, { 'x-consistency-token': token })).includes(tradeId) &&
        (await replicaServed(direct(1))) > before,
      10_000,
      'B serves the token’s read from the replica once it has replayed it',
    );
  });

  test('the replica stopped: reads go to the primary, /readyz says degraded, no 5xx; it rejoins when back', async () => {
    const marketId = await createMarket(topology.url);
    await topology.replica!.stop('fast');
    try {
      const statuses: number[] = [];
      const until = Date.now() + 2000;
      while (Date.now() < until) {
        const res = await fetch(`${topology.url}/api/markets?limit=20&sort=createdAt&offset=0`);
        statuses.push(res.status);
        await res.arrayBuffer();
        const trades = await fetch(`${topology.url}/api/markets/${marketId}/trades`);
        statuses.push(trades.status);
        await trades.arrayBuffer();
      }
      assert.ok(statuses.length > 10);
      assert.deepEqual([...new Set(statuses)], [200], 'every read answered 200 while the replica was down');
      for (const base of [direct(0), direct(1)]) {
        await eventually(
          async () => {
            const res = await fetch(`${base}/readyz`);
            const body = (await res.json()) as { status: string; replicas: Record<string, string> };
            return res.status === 200 && body.status === 'degraded' && body.replicas['replica-1'] === 'down';
          },
          10_000,
          `${base}/readyz says degraded, replica down, and stays 200`,
        );
      }
      const states = await topology.balancer.serverStates();
      assert.deepEqual(states, { api1: 'UP', api2: 'UP' }, 'a degraded instance stays in rotation');
    } finally {
      await topology.replica!.start();
    }
    for (const base of [direct(0), direct(1)]) {
      await eventually(
        async () => ((await (await fetch(`${base}/readyz`)).json()) as { status: string }).status === 'ok',
        20_000,
        `${base} finds the replica up again`,
      );
    }
  });

  test('rolling restart under load: no failed response, and subscribers resume with every trade event once, in order', async () => {
    const markets = [await createMarket(topology.url), await createMarket(topology.url)];
    const { rows } = await query('select coalesce(max(seq), 0)::text as seq from events');
    const start = Number(rows[0]!.seq);
    const subscribers = markets.map((id) =>
      resumingSubscriber(`${topology.url}/api/markets/${id}/events`, start),
    );
    await Promise.all(subscribers.map((s) => s.connected));
    const load = tradeLoad(topology.url, traders, markets);
    const reads: (number | string)[] = [];
    let reading = true;
    const reader = (async () => {
      while (reading) {
        try {
          const res = await fetch(`${topology.url}/api/markets?limit=20&sort=volume`);
          reads.push(res.status);
          await res.arrayBuffer();
        } catch (error) {
          reads.push(String((error as Error).cause ?? error));
        }
        await sleep(10);
      }
    })();

    let samples: Awaited<ReturnType<typeof load.stop>>;
    try {
      await sleep(500);
      for (let i = 0; i < topology.apis.length; i++) {
        const { exitCode } = await topology.restartApi(i);
        assert.equal(exitCode, 0, `api${i + 1} stopped cleanly on SIGTERM`);
        await sleep(300);
      }
    } finally {
      samples = await load.stop();
      reading = false;
      await reader;
    }
    try {
      const failed = samples.filter((s) => typeof s.status !== 'number' || s.status >= 300);
      assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${samples.length} load requests failed`);
      assert.ok(samples.filter((s) => s.kind === 'trade').length >= 20, 'the load made trades throughout');
      assert.deepEqual([...new Set(reads)], [200], 'every list read answered 200');
      for (const s of samples)
        if (s.kind === 'trade') acknowledged.push((s.body!.data as { trade: { id: string } }).trade.id);
      for (const [i, marketId] of markets.entries()) {
        const { rows: logged } = await query(
          'select seq::text from events where market_id = $1 and events.seq > $2 order by events.seq',
          [marketId, start],
        );
        const expected = logged.map((r) => String(r.seq));
        const subscriber = subscribers[i]!;
        await eventually(
          async () => subscriber.ids().length >= expected.length,
          15_000,
          'the subscriber caught up',
        );
        assert.deepEqual(
          subscriber.ids(),
          expected,
          `every event of the market once, in order: got ${JSON.stringify(subscriber.ids())}, the log has ${JSON.stringify(expected)}`,
        );
        assert.ok(subscriber.reconnects() >= 1, 'the stream was ended by a draining instance and resumed');
        assert.deepEqual(subscriber.refusals(), [], 'every reconnection was accepted');
      }
    } finally {
      await Promise.all(subscribers.map((subscriber) => subscriber.close()));
    }
  });

  test('200 new markets: each indexing job runs exactly once across the two workers', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 200; i += 10) {
      ids.push(...(await Promise.all(Array.from({ length: 10 }, () => createMarket(topology.url)))));
    }
    const jobs = async () =>
      (
        await query(
          `select data->>'marketId' as market, state, retry_count from pgboss.job
           where name = 'search.index-market' and data->>'marketId' = any($1::text[])`,
          [ids],
        )
      ).rows as { market: string; state: string; retry_count: number }[];
    await eventually(
      async () => (await jobs()).filter((j) => j.state === 'completed').length === 200,
      60_000,
      'all 200 indexing jobs completed',
    );
    const rows = await jobs();
    assert.equal(rows.length, 200, 'one job per market');
    assert.equal(new Set(rows.map((r) => r.market)).size, 200);
    // A job fetched twice would have gone back to created/retry, which counts a retry: none did.
    assert.deepEqual(
      rows.filter((r) => r.retry_count !== 0),
      [],
      'every job ran once (no job was retried or taken by two workers)',
    );
  });

  test('a worker killed mid-job: its job is retried by the other worker (at least once)', async () => {
    let first = true;
    // Who sent each delivery, looked up while its connection is open.
    const senders: number[] = [];
    const receiver = await startReceiver((delivery, res) => {
      senders.push(pidOwning(delivery.remotePort));
      if (first) {
        first = false; // the first delivery hangs: its worker holds the job while we kill it
        return;
      }
      res.end('ok');
    });
    try {
      const marketId = await createMarket(topology.url);
      const res = await post(
        topology.url,
        '/api/me/webhooks',
        { url: receiver.url, events: ['trade.created'], markets: [marketId] },
        creator.auth,
      );
      assert.equal(res.status, 201, await res.clone().text());
      const trade = await post(
        topology.url,
        `/api/markets/${marketId}/trades`,
        { outcome: 'NO', side: 'buy', amount: 2 },
        traders[1]!.auth,
      );
      assert.equal(trade.status, 201);
      acknowledged.push(((await trade.json()) as { data: { trade: { id: string } } }).data.trade.id);
      await eventually(async () => receiver.received.length === 1, 20_000, 'a worker sent the delivery');
      const { rows } = await query(
        `select id from pgboss.job where name = 'webhooks.deliver' and state = 'active'`,
      );
      assert.equal(rows.length, 1, 'one delivery job is active');
      const holder = topology.workers.find((worker) => worker.pid === senders[0]);
      assert.ok(holder, `a worker process sent it (pid ${senders[0]})`);
      await holder.stop('SIGKILL');
      await eventually(
        async () => receiver.received.length >= 2,
        45_000,
        'the other worker delivered it again',
      );
      const [a, b] = receiver.received;
      assert.equal(a!.headers['webhook-seq'], b!.headers['webhook-seq'], 'the same event, sent again');
      const other = topology.workers.find((worker) => worker.pid === senders[1]);
      assert.ok(other && other !== holder, 'by the other worker');
      // The dead worker's job did not stay active: the heartbeat sweep took it back.
      await eventually(
        async () =>
          (await query('select state from pgboss.job where id = $1', [rows[0]!.id])).rows[0]?.state !==
          'active',
        20_000,
        'the killed worker’s job is no longer active',
      );
      await holder.start();
    } finally {
      await receiver.close();
    }
  });

  test('the ledger adds up after all of it: difference 0, every acknowledged trade recorded', async () => {
    await assertBooksBalance(query, traders, acknowledged);
  });
});

/** The pid of the local process whose TCP socket has `port` as its own (the sender of a request). */
function pidOwning(port: number | undefined): number {
  const sockets = execFileSync('ss', ['-Htnp', 'state', 'established', `sport = :${port}`], {
    encoding: 'utf8',
  });
  return Number(/pid=(\d+)/.exec(sockets)?.[1]);
}
