import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { buildApp } from '../src/app.ts';
import { ConfigError, configWith, loadConfig } from '../src/config/env.ts';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/lib/logger.ts';
import { createTokenService } from '../src/modules/auth/tokens.ts';
import { buildTestApp, TEST_JWT_SECRET } from './helpers/build-app.ts';
import { eventually } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';
import {
  type OwnPostgres,
  ownPostgresServer,
  ownStandbyServer,
  skipWithoutPostgresBinaries,
} from './helpers/postgres-cluster.ts';

const LSN = /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/;

interface Instance {
  app: FastifyInstance;
  database: Database;
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** One API instance of its own (pools, probe, memory cache), like a separate process. */
async function instance(primary: OwnPostgres, replica: OwnPostgres, env: Record<string, string> = {}) {
  const config = configWith({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'warn',
    DATABASE_URL: primary.url,
    DATABASE_READ_URL: replica.url,
    DATABASE_READ_MAX_LAG_MS: '60000',
    DATABASE_READ_PROBE_INTERVAL_MS: '100',
    DATABASE_CONNECT_TIMEOUT_MS: '1000',
    // Lists straight from the database, so that where they come from shows.
    LIST_CACHE_TTL_SECONDS: '0',
    WORKERS: 'false',
    RATE_LIMIT_PER_MINUTE: '0',
    TRADE_RATE_LIMIT_PER_MINUTE: '0',
    ...env,
  });
  const database = await openDatabase({
    url: config.DATABASE_URL,
    readUrls: config.DATABASE_READ_URL ?? [],
    readMaxLagMs: config.DATABASE_READ_MAX_LAG_MS,
    readProbeIntervalMs: config.DATABASE_READ_PROBE_INTERVAL_MS,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    poolSize: 4,
  });
  // Errors (a 500's stack) go to stderr, where the test's output shows them.
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n'))
        if (/"level":(50|60)/.test(line)) process.stderr.write(`${line}\n`);
      done();
    },
  });
  const app = await buildApp({
    config,
    database,
    jwtSecret: TEST_JWT_SECRET,
    logger: createLogger('warn', { destination: sink }),
  });
  await app.ready();
  return {
    app,
    database,
    request: (options: InjectOptions) => app.inject(options),
    async close() {
      await app.close();
      await database.close();
    },
  } satisfies Instance;
}

const readyz = async (node: Instance) => (await node.request({ method: 'GET', url: '/readyz' })).json();

describe('read replicas (PostgreSQL primary + streaming replica)', {
  skip: skipWithoutPostgresBinaries,
}, () => {
  let primary: OwnPostgres;
  let replica: OwnPostgres;
  let replicaAdmin: pg.Pool;
  let a: Instance;
  let b: Instance;
  let user: { id: string; auth: { authorization: string } };

  const pauseReplay = () => replicaAdmin.query('select pg_wal_replay_pause()');
  const resumeReplay = () => replicaAdmin.query('select pg_wal_replay_resume()');
  const listIds = async (node: Instance, headers: Record<string, string> = {}) => {
    const res = await node.request({ method: 'GET', url: '/api/markets?limit=100&sort=createdAt', headers });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json().data as { id: string }[]).map((market) => market.id);
  };
  const createMarket = async (node: Instance) => {
    const res = await node.request({
      method: 'POST',
      url: '/api/markets',
      headers: user.auth,
      payload: marketBody(),
    });
    assert.equal(res.statusCode, 201, res.body);
    const token = res.headers['x-consistency-token'];
    assert.match(String(token), LSN, 'a write answers with its consistency token');
    return { id: res.json().data.id as string, token: String(token) };
  };
  const replicaUp = (node: Instance) => async () => (await readyz(node)).replicas?.['replica-1'] === 'up';

  before(async () => {
    primary = await ownPostgresServer();
    const migrating = await openDatabase({ url: primary.url });
    await migrate(migrating);
    const row = await migrating.db
      .insertInto('users')
      .values({ email: `replicas-${process.pid}@example.com`, name: 'Replica reader', role: 'user' })
      .returning(['id', 'email'])
      .executeTakeFirstOrThrow();
    await migrating.close();
    const token = await createTokenService(TEST_JWT_SECRET, 3600).sign({
      sub: row.id,
      email: row.email,
      role: 'user',
    });
    user = { id: row.id, auth: { authorization: `Bearer ${token}` } };
    replica = await ownStandbyServer(primary);
    replicaAdmin = new pg.Pool({ connectionString: replica.url, max: 1 });
    replicaAdmin.on('error', () => {});
    a = await instance(primary, replica);
    b = await instance(primary, replica);
    await eventually(replicaUp(a), 20_000, 'instance A finds the replica up');
    await eventually(replicaUp(b), 20_000, 'instance B finds the replica up');
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await replicaAdmin?.end();
    await replica?.dispose();
    await primary?.dispose();
  });

  test('lists come from the replica: with replay paused a tokenless list lags, the writer’s token reads its write', async () => {
    await pauseReplay();
    try {
      const { id, token } = await createMarket(a);
      assert.ok(!(await listIds(a)).includes(id), 'without a token the list is what the paused replica has');
      assert.ok(!(await listIds(b)).includes(id), 'on the other instance too');
      assert.ok(
        (await listIds(a, { 'x-consistency-token': token })).includes(id),
        'the token reads the write',
      );
      assert.ok(
        (await listIds(b, { 'x-consistency-token': token })).includes(id),
        'through another instance as well',
      );
    } finally {
      await resumeReplay();
    }
  });

  test('once the replica has replayed past a token, the tokened read is served by the replica', async () => {
    const { id, token } = await createMarket(a);
    await eventually(async () => (await listIds(b)).includes(id), 15_000, 'the replica replays the write');
    // The probe's replay position is at most one interval old.
    await eventually(
      async () => {
        const before = b.database.replicas()[0]!.reads;
        const ids = await listIds(b, { 'x-consistency-token': token });
        assert.ok(ids.includes(id));
        return b.database.replicas()[0]!.reads > before;
      },
      15_000,
      'a tokened list read on the replica',
    );
  });

  test('a trade through instance A, then its token through instance B: B shows the trade although the replica has not replayed it', async () => {
    const { id: marketId } = await createMarket(a);
    await eventually(async () => (await listIds(b)).includes(marketId), 15_000, 'the replica has the market');
    await pauseReplay();
    try {
      const traded = await a.request({
        method: 'POST',
        url: `/api/markets/${marketId}/trades`,
        headers: user.auth,
        payload: { outcome: 'YES', side: 'buy', amount: 5 },
      });
      assert.equal(traded.statusCode, 201, traded.body);
      const token = String(traded.headers['x-consistency-token']);
      assert.match(token, LSN);
      const trades = async (headers: Record<string, string>) => {
        const res = await b.request({ method: 'GET', url: `/api/markets/${marketId}/trades`, headers });
        assert.equal(res.statusCode, 200, res.body);
        return res.json().data as { userId: string }[];
      };
      assert.equal((await trades({})).length, 0, 'without the token B reads the paused replica');
      const seen = await trades({ 'x-consistency-token': token });
      assert.equal(seen.length, 1, 'with it B reads the primary');
    } finally {
      await resumeReplay();
    }
  });

  test('a replica further behind than DATABASE_READ_MAX_LAG_MS is skipped: reads go to the primary, /readyz degraded', async () => {
    const strict = await instance(primary, replica, { DATABASE_READ_MAX_LAG_MS: '400' });
    try {
      await eventually(replicaUp(strict), 15_000, 'the strict instance finds the replica up');
      await pauseReplay();
      const { id } = await createMarket(a);
      // WAL keeps moving on the primary (the write, then whatever else commits) while replay stands still.
      await eventually(
        async () => {
          await createMarket(a);
          return (await readyz(strict)).replicas?.['replica-1'] === 'lagging';
        },
        15_000,
        'the probe finds the replica lagging',
      );
      const ready = await strict.request({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200, 'a lagging replica does not make the instance unready');
      assert.equal(ready.json().status, 'degraded');
      assert.equal(ready.json().checks['replica-1'], 'degraded');
      assert.ok((await listIds(strict)).includes(id), 'a tokenless list now comes from the primary');
      assert.ok(!(await listIds(a)).includes(id), 'an instance with a looser bound still reads the replica');
    } finally {
      await resumeReplay();
      await strict.close();
    }
  });

  test('the shared cache is filled from the primary: a cached list never holds what a lagging replica had', {
    skip: process.env.TEST_REDIS_URL ? false : 'TEST_REDIS_URL is not set',
  }, async () => {
    const shared = {
      REDIS_URL: process.env.TEST_REDIS_URL!,
      REDIS_KEY_PREFIX: `replicas-${process.pid}-${Date.now()}:`,
      LIST_CACHE_TTL_SECONDS: '30',
    };
    const c1 = await instance(primary, replica, shared);
    const c2 = await instance(primary, replica, shared);
    try {
      await eventually(replicaUp(c2), 15_000, 'the replica is up');
      await pauseReplay();
      await listIds(c2); // the first page is cached now
      const { id } = await createMarket(c1);
      // The write invalidated the shared cache after its commit; the next fill reads the primary.
      assert.ok((await listIds(c2)).includes(id), 'the cached first page has the write without a token');
      assert.ok((await listIds(c1)).includes(id));
    } finally {
      await resumeReplay();
      await c1.close();
      await c2.close();
    }
  });

  test('a junk consistency token is a 400 in the envelope', async () => {
    for (const junk of ['junk', '0/', 'G/1', '1/2/3', '123456789/0', ' ']) {
      const res = await a.request({
        method: 'GET',
        url: '/api/markets',
        headers: { 'x-consistency-token': junk },
      });
      assert.equal(res.statusCode, 400, `${JSON.stringify(junk)}: ${res.body}`);
      const body = res.json();
      assert.equal(body.success, false);
      assert.equal(body.code, 'BAD_REQUEST');
      assert.match(body.error, /X-Consistency-Token/);
      assert.ok(body.requestId);
    }
  });

  // Last: it stops the replica.
  test('replica stopped: reads go to the primary with no 5xx, /readyz degraded and /metrics say so', async () => {
    const { id } = await createMarket(a);
    await eventually(async () => (await listIds(a)).includes(id), 15_000, 'the replica has the market');
    // An instance whose probe will not run again during the test: only a user request can find out.
    const unprobed = await instance(primary, replica, { DATABASE_READ_PROBE_INTERVAL_MS: '60000' });
    await replica.stop('fast');
    try {
      for (let i = 0; i < 5; i++) assert.ok((await listIds(unprobed)).includes(id), 'served by the primary');
      const [status] = unprobed.database.replicas();
      assert.equal(status!.state, 'down', 'the first failed read marks the replica down');
      assert.equal(status!.fallbacks, 1, 'only one request ever tried the dead replica');

      // Right away, before any probe has noticed: the failed read runs again on the primary.
      const statuses = [];
      for (let i = 0; i < 10; i++) {
        const res = await a.request({ method: 'GET', url: '/api/markets?limit=100' });
        statuses.push(res.statusCode);
        const search = await b.request({ method: 'GET', url: '/api/markets/search?q=rain' });
        statuses.push(search.statusCode);
      }
      assert.deepEqual(
        statuses.filter((status) => status !== 200),
        [],
        'every read answered while the replica went away',
      );
      assert.ok((await listIds(a)).includes(id));
      await eventually(
        async () => (await readyz(a)).replicas?.['replica-1'] === 'down',
        10_000,
        'the probe marks it down',
      );
      const ready = await a.request({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200, 'a replica down leaves the instance ready');
      assert.equal(ready.json().status, 'degraded');
      assert.equal(ready.json().checks.database, 'ok');
      const metrics = (await a.request({ method: 'GET', url: '/metrics' })).body;
      assert.match(metrics, /db_replica_state\{replica="replica-1",state="down"\} 1/);
      assert.match(metrics, /db_replica_state\{replica="replica-1",state="up"\} 0/);
      // A write still answers, with a token; reading with it goes to the primary.
      const written = await createMarket(b);
      assert.ok((await listIds(a, { 'x-consistency-token': written.token })).includes(written.id));
    } finally {
      await unprobed.close();
      await replica.start();
    }
    await eventually(replicaUp(a), 30_000, 'the restarted replica is used again');
    const metrics = (await a.request({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /db_replica_state\{replica="replica-1",state="up"\} 1/);
    assert.match(metrics, /db_replica_lag_seconds\{replica="replica-1"\} /);
  });
});

describe('read replicas: without any', () => {
  test('PGlite: reads use the one database, writes carry no token, a junk token is still a 400', async () => {
    const t = await buildTestApp('pglite');
    try {
      assert.equal(t.database.read, t.database.db);
      assert.deepEqual(t.database.replicas(), []);
      const author = await t.user();
      const res = await t.request({
        method: 'POST',
        url: '/api/markets',
        headers: author.auth,
        payload: marketBody(),
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.headers['x-consistency-token'], undefined);
      const list = await t.request({
        method: 'GET',
        url: '/api/markets',
        headers: { 'x-consistency-token': '0/16B3740' },
      });
      assert.equal(list.statusCode, 200, 'a well-formed token from another deployment is harmless');
      const junk = await t.request({
        method: 'GET',
        url: '/api/markets',
        headers: { 'x-consistency-token': 'x' },
      });
      assert.equal(junk.statusCode, 400);
      const ready = (await t.request({ method: 'GET', url: '/readyz' })).json();
      assert.equal(ready.replicas, undefined);
    } finally {
      await t.close();
    }
  });

  test('DATABASE_READ_URL is checked at start', () => {
    assert.throws(() => loadConfig({ DATABASE_READ_URL: 'postgres://r/db' }), ConfigError);
    assert.throws(
      () => loadConfig({ DATABASE_URL: 'postgres://p/db', DATABASE_READ_URL: 'mysql://r/db' }),
      /DATABASE_READ_URL/,
    );
    const config = loadConfig({
      DATABASE_URL: 'postgres://p/db',
      DATABASE_READ_URL: 'postgres://r1/db, postgresql://r2/db',
    });
    assert.deepEqual(config.DATABASE_READ_URL, ['postgres://r1/db', 'postgresql://r2/db']);
  });
});
