import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { eventually } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';
import {
  acknowledgedTradeIds,
  assertBooksBalance,
  type LoadUser,
  makeUsers,
  percentile,
  type Query,
  type Sample,
  tradeLoad,
} from './helpers/http-load.ts';
import {
  type OwnPostgres,
  ownPostgresServer,
  skipWithoutPostgresBinaries,
} from './helpers/postgres-cluster.ts';
import { type ServerProcess, serverEnv, startServer } from './helpers/server-process.ts';

const JWT_SECRET = 'faults-postgres-secret-that-is-at-least-32-chars';
/** What the service is told; a 503 must come within it (plus slack for a loaded 2-core machine). */
const CONNECT_TIMEOUT_MS = 1000;
const SLACK_MS = 4000;
const OUTAGE_MS = 1500;

/** Trades and reads for a while, then SIGKILL mid-load; returns the trades acknowledged before. */
async function killUnderLoad(server: ServerProcess, traders: LoadUser[], marketIds: string[]) {
  const load = tradeLoad(server.url, traders, marketIds);
  await sleep(1500);
  const killed = await server.kill('SIGKILL');
  const samples = await load.stop();
  assert.equal(killed.signal, 'SIGKILL');
  const acknowledged = acknowledgedTradeIds(samples);
  assert.ok(acknowledged.length > 0, 'trades were acknowledged before the kill');
  return acknowledged;
}

describe('the API process outlives its PostgreSQL (a cluster of our own, stopped and restarted)', {
  skip: skipWithoutPostgresBinaries,
}, () => {
  let cluster: OwnPostgres;
  let server: ServerProcess;
  let pool: pg.Pool;
  let query: Query;
  let dataDir: string;
  let admin: LoadUser;
  let traders: LoadUser[];
  let marketIds: string[];
  const acknowledged: string[] = [];

  const api = (path: string, init: RequestInit = {}) => fetch(server.url + path, init);
  const post = (path: string, user: LoadUser, body: unknown) =>
    api(path, {
      method: 'POST',
      headers: { ...user.auth, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  let env: Record<string, string>;

  before(async () => {
    cluster = await ownPostgresServer();
    dataDir = await mkdtemp(join(tmpdir(), 'markets-faults-pg-'));
    env = {
      DATA_DIR: dataDir,
      DATABASE_URL: cluster.url,
      DATABASE_POOL_SIZE: '8',
      DATABASE_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
      JWT_SECRET,
      RATE_LIMIT_PER_MINUTE: '0',
      TRADE_RATE_LIMIT_PER_MINUTE: '0',
      WORKER_POLL_INTERVAL_MS: '500',
    };
    server = await startServer(serverEnv(env));
    pool = new pg.Pool({ connectionString: cluster.url, max: 2 });
    pool.on('error', () => {}); // the test's own idle connections die with each stop
    query = (text, values) => pool.query(text, values);
    admin = (await makeUsers(query, JWT_SECRET, 1, 'admin'))[0]!;
    traders = await makeUsers(query, JWT_SECRET, 8);
    marketIds = [];
    for (let i = 0; i < 4; i++) {
      const res = await post('/api/markets', admin!, marketBody({ liquidity: 200 }));
      assert.equal(res.status, 201, await res.clone().text());
      marketIds.push(((await res.json()) as { data: { id: string } }).data.id);
    }
  });
  after(async () => {
    await server?.kill();
    await pool?.end();
    await cluster?.dispose();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** What the server logged about these requests (the stack of a 500). */
  const serverErrors = (samples: Sample[]) => {
    const ids = new Set(samples.map((s) => s.body?.requestId).filter(Boolean));
    return server.out.stdout
      .split('\n')
      .filter((line) => [...ids].some((id) => line.includes(String(id))) && /"level":50/.test(line))
      .slice(0, 3)
      .join('\n');
  };

  /**
   * Load for a while, the fault, load through it and after it is over. Returns the figures and
   * checks what must hold: the process is up, every answer is 2xx or a 503 in the envelope within
   * the connect timeout (no 500, no reset, no hang), and the service works once PostgreSQL is back.
   */
  async function underLoad(t: TestContext, name: string, fault: () => Promise<void>) {
    assert.ok(server.alive(), `the API process is down before the fault:\n${server.out.stderr.slice(-2000)}`);
    const logFrom = server.out.stdout.length;
    const load = tradeLoad(server.url, traders, marketIds);
    let faultAt = Date.now();
    let backAt = faultAt;
    let probe: { status: number | string; text: string } = { status: 'not sent', text: '' };
    let probeMs = Number.NaN;
    let samples: Sample[];
    try {
      await sleep(800);
      faultAt = Date.now();
      await fault();
      backAt = Date.now();
      // The first request after PostgreSQL is back: a trade, which needs a working connection.
      probe = await post(`/api/markets/${marketIds[0]}/trades`, admin, {
        outcome: 'YES',
        side: 'buy',
        amount: 1,
      })
        .then(async (res) => ({ status: res.status, text: await res.text() }))
        .catch((error: Error) => ({ status: 'reset', text: String(error.cause ?? error) }));
      probeMs = Date.now() - backAt;
      await sleep(1500);
    } finally {
      samples = await load.stop();
    }
    const probeText = probe.text;
    if (probe.status === 201) acknowledged.push(JSON.parse(probeText).data.trade.id);
    acknowledged.push(...acknowledgedTradeIds(samples));

    const unavailable = samples.filter((s) => s.status === 503);
    const latency = (s: Sample) => s.endedAt - s.startedAt;
    const afterBack = samples.filter((s) => s.startedAt >= backAt);
    const firstSuccess = afterBack
      .filter((s) => typeof s.status === 'number' && s.status < 300)
      .sort((a, b) => a.endedAt - b.endedAt)[0];
    const figures = {
      fault: name,
      requests: samples.length,
      outageMs: backAt - faultAt,
      status: Object.fromEntries(
        [...new Set(samples.map((s) => s.status))].map((k) => [
          k,
          samples.filter((s) => s.status === k).length,
        ]),
      ),
      p50_503Ms: percentile(unavailable.map(latency), 50),
      max503Ms: Math.max(0, ...unavailable.map(latency)),
      maxLatencyMs: Math.max(...samples.map(latency)),
      firstRequestAfterBackMs: probeMs,
      firstSuccessAfterBackMs: firstSuccess ? firstSuccess.endedAt - backAt : null,
      serverErrorLogLines: server.out.stdout
        .slice(logFrom)
        .split('\n')
        .filter((l) => /"level":50/.test(l)).length,
      jobQueueErrorLines: server.out.stdout
        .slice(logFrom)
        .split('\n')
        .filter((l) => /job queue error/.test(l)).length,
    };
    t.diagnostic(JSON.stringify(figures));
    console.log(`[faults-postgres] ${JSON.stringify(figures)}`);

    assert.ok(server.alive(), `the API process died:\n${server.out.stderr.slice(-3000)}`);
    assert.doesNotMatch(server.out.stderr, /Unhandled|uncaught/i);
    const wrong = samples.filter((s) => s.status !== 200 && s.status !== 201 && s.status !== 503);
    assert.deepEqual(
      wrong.map((s) => `${s.kind} ${s.status} ${s.detail}`),
      [],
      `every answer is a success or a 503 (no 500, no reset, no hang); the server logged:\n${serverErrors(wrong)}`,
    );
    for (const s of unavailable) {
      assert.equal(s.body?.success, false);
      assert.equal(s.body?.code, 'SERVICE_UNAVAILABLE', s.detail);
      assert.equal(typeof s.body?.requestId, 'string');
      assert.ok(typeof s.body?.error === 'string' && !/terminat|ECONN/i.test(s.body.error), 'no internals');
    }
    assert.ok(
      figures.maxLatencyMs <= CONNECT_TIMEOUT_MS + SLACK_MS,
      `every answer within the connect timeout (+slack): ${figures.maxLatencyMs} ms`,
    );
    assert.equal(probe.status, 201, `the first request after PostgreSQL is back: ${probeText}`);
    const late = afterBack.filter((s) => s.startedAt >= backAt + 500 && s.status !== 200 && s.status !== 201);
    assert.deepEqual(
      late.map((s) => `${s.kind} ${s.status}`),
      [],
      'requests after PostgreSQL is back succeed',
    );
    return figures;
  }

  test('pg_ctl stop -m fast under load, then start: 503s during the outage, served again after', async (t) => {
    const figures = await underLoad(t, 'stop -m fast', async () => {
      await cluster.stop('fast');
      await sleep(OUTAGE_MS);
      await cluster.start();
    });
    assert.ok(figures.status[503]! > 0, 'the outage was seen by the clients');
  });

  test('pg_ctl stop -m immediate under load, then start: the same', async (t) => {
    const figures = await underLoad(t, 'stop -m immediate', async () => {
      await cluster.stop('immediate');
      await sleep(OUTAGE_MS);
      await cluster.start();
    });
    assert.ok(figures.status[503]! > 0, 'the outage was seen by the clients');
  });

  test("pg_terminate_backend of the app's backends under load: the process stays up, the pool heals", async (t) => {
    let ended = 0;
    await underLoad(t, 'pg_terminate_backend × 3', async () => {
      for (let i = 0; i < 3; i++) {
        ended += await cluster.terminateBackends();
        await sleep(300);
      }
    });
    assert.ok(ended > 0, 'backends were terminated');
  });

  /** A trade held inside its transaction (another session has its market row), then the fault. */
  const interrupted: [string, (waitingPid: number, locker: pg.Client) => Promise<void>][] = [
    [
      'its backend is terminated',
      (pid, locker) => locker.query('select pg_terminate_backend($1)', [pid]).then(() => {}),
    ],
    // No error message first: the client sees its connection end, and the ROLLBACK fails on it.
    ['PostgreSQL stops -m immediate', () => cluster.stop('immediate')],
  ];
  for (const [label, fault] of interrupted) {
    test(`a trade waiting inside its transaction when ${label} answers 503 and commits nothing`, async () => {
      const [user] = await makeUsers(query, JWT_SECRET, 1);
      const marketId = marketIds[1]!;
      const locker = new pg.Client({ connectionString: cluster.url });
      locker.on('error', () => {}); // it dies with the server
      await locker.connect();
      let res: Response;
      let tookMs: number;
      try {
        await locker.query('begin');
        await locker.query('select 1 from markets where id = $1 for update', [marketId]);
        const pending = post(`/api/markets/${marketId}/trades`, user!, {
          outcome: 'NO',
          side: 'buy',
          amount: 5,
        });
        let waiting: number | undefined;
        await eventually(
          async () => {
            // In the locker's transaction pg_stat_activity would stay as its first read saw it.
            await locker.query('select pg_stat_clear_snapshot()');
            const { rows } = await locker.query(
              `select pid from pg_stat_activity where wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
            );
            waiting = rows[0]?.pid;
            return waiting !== undefined;
          },
          10_000,
          'the trade waits on the market lock',
        );
        const startedAt = Date.now();
        await fault(waiting!, locker);
        res = await pending;
        tookMs = Date.now() - startedAt;
      } finally {
        await locker.end().catch(() => {});
        await cluster.start(); // a no-op when it is running
      }
      const text = await res.text();
      assert.equal(res.status, 503, text);
      assert.equal(JSON.parse(text).code, 'SERVICE_UNAVAILABLE');
      assert.ok(tookMs < CONNECT_TIMEOUT_MS + SLACK_MS, `answered in ${tookMs} ms`);
      assert.ok(server.alive(), 'the API process is up');
      const { rows } = await query('select count(*)::int as n from trades where user_id = $1', [user!.id]);
      assert.equal(rows[0]!.n, 0, 'nothing of the interrupted trade was committed');
      const again = await post(`/api/markets/${marketId}/trades`, user!, {
        outcome: 'NO',
        side: 'buy',
        amount: 5,
      });
      const body = await again.text();
      assert.equal(again.status, 201, body);
      acknowledged.push(JSON.parse(body).data.trade.id);
      traders.push(user!);
    });
  }

  test('kill -9 under trade load, then a restart: no acknowledged trade lost, no half trade', async () => {
    acknowledged.push(...(await killUnderLoad(server, traders, marketIds)));
    server = await startServer(serverEnv(env));
    await assertBooksBalance(query, traders, acknowledged);
  });

  test('after every fault: the books balance, no acknowledged trade is lost, and queued jobs run', async () => {
    assert.ok(acknowledged.length > 0);
    await assertBooksBalance(query, traders, acknowledged);
    const ledger = await api('/api/admin/ledger', { headers: admin.auth });
    assert.equal(((await ledger.json()) as { data: { difference: number } }).data.difference, 0);

    // pg-boss lived through the same outages: a market created now is indexed by its worker.
    const res = await post('/api/markets', admin, marketBody());
    assert.equal(res.status, 201);
    const id = ((await res.json()) as { data: { id: string } }).data.id;
    await eventually(
      async () => {
        const { rows } = await query(
          `select state from pgboss.job where name = 'search.index-market' and data->>'marketId' = $1`,
          [id],
        );
        return rows[0]?.state === 'completed';
      },
      20_000,
      'the indexing job of a market created after the outages completed',
    );
    assert.ok(server.alive());
  });
});

describe('PGlite: scripts that vanish from its socket, kill -9 under trade load', () => {
  let server: ServerProcess;
  let dataDir: string;
  let user: LoadUser;
  /** A script's connection to the running server's PGlite, as `npm run token|seed` opens it. */
  const script = async () => {
    const client = new pg.Client({ host: dataDir, user: 'postgres', database: 'postgres' });
    client.on('error', () => {}); // we cut it ourselves
    await client.connect();
    return client;
  };
  const query: Query = async (text, values) => {
    const client = await script();
    try {
      return await client.query(text, values);
    } finally {
      await client.end();
    }
  };
  /** An abrupt disconnect: a TCP-style reset of the Unix socket, no Terminate message. */
  const vanish = (client: pg.Client) =>
    (client as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream.destroy();

  const env = () => ({
    DATA_DIR: dataDir,
    JWT_SECRET,
    RATE_LIMIT_PER_MINUTE: '0',
    TRADE_RATE_LIMIT_PER_MINUTE: '0',
  });

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'markets-faults-pglite-'));
    // A fresh PGlite data dir takes a while to create on a loaded machine.
    server = await startServer(serverEnv(env()), 120_000);
    user = (await makeUsers(query, JWT_SECRET, 1, 'admin'))[0]!;
  });
  after(async () => {
    await server?.kill();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const createMarket = () =>
    fetch(`${server.url}/api/markets`, {
      method: 'POST',
      headers: { ...user.auth, 'content-type': 'application/json' },
      body: JSON.stringify(marketBody()),
      signal: AbortSignal.timeout(10_000),
    });

  test('a script that leaves inside its transaction: its work is rolled back and the API writes again', async () => {
    const client = await script();
    await client.query('begin');
    await client.query(`update users set name = 'half-done' where id = $1`, [user.id]);
    vanish(client);
    const res = await createMarket();
    assert.equal(res.status, 201, await res.text());
    const { rows } = await query('select name from users where id = $1', [user.id]);
    assert.notEqual(rows[0]!.name, 'half-done', 'the vanished transaction was not committed');
    assert.ok(server.alive());
  });

  test('a script that leaves while its statement runs, and one that leaves half-way through a message', async () => {
    const slow = await script();
    slow.query('select pg_sleep(0.5)').catch(() => {});
    await sleep(100);
    vanish(slow);

    const partial = await script();
    const stream = (partial as unknown as { connection: { stream: import('node:net').Socket } }).connection
      .stream;
    // The header of a Query message announcing 100 bytes, then nothing.
    stream.write(Buffer.from([0x51, 0, 0, 0, 100, 0x73, 0x65]));
    await sleep(50);
    vanish(partial);

    await sleep(700);
    assert.ok(server.alive(), `the server died:\n${server.out.stderr.slice(-2000)}`);
    const res = await createMarket();
    assert.equal(res.status, 201, await res.text());
    const { rows } = await query('select count(*)::int as n from markets');
    assert.ok(Number(rows[0]!.n) >= 2);
    assert.doesNotMatch(server.out.stderr, /Unhandled|uncaught/i);
  });

  test('kill -9 under trade load, then a restart: no acknowledged trade lost, no half trade', async () => {
    const traders = await makeUsers(query, JWT_SECRET, 6);
    const marketIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await createMarket();
      assert.equal(res.status, 201);
      marketIds.push(((await res.json()) as { data: { id: string } }).data.id);
    }
    const acknowledged = await killUnderLoad(server, traders, marketIds);
    // The killed process left its socket file behind: the next start must not take it for a live server.
    server = await startServer(serverEnv(env()), 120_000);
    await assertBooksBalance(query, traders, acknowledged);
    const res = await createMarket();
    assert.equal(res.status, 201, 'served again after the restart');
  });
});
