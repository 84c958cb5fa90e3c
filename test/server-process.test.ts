import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createTestDatabase, type TestDatabase } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';
import { type Env, killServers, run, serverEnv, startServer } from './helpers/server-process.ts';

/** These tests run the real entry points as an operator would: `node src/server.ts`, `node scripts/…`. */
const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;
const SHUTDOWN_TIMEOUT_MS = 1000;

const baseEnv = (): Env =>
  // These tests are about what follows the drain (faults-shutdown.test.ts tests the drain itself).
  serverEnv({ SHUTDOWN_DRAIN_MS: '0' });

/** A POST whose body arrives in two parts, so the request is still in flight when we say so. */
function postInTwoParts(url: string, token: string, body: unknown) {
  const payload = JSON.stringify(body);
  const half = Math.floor(payload.length / 2);
  const req = http.request(`${url}/api/markets`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
      authorization: `Bearer ${token}`,
    },
  });
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
  });
  req.write(payload.slice(0, half));
  return { response, finish: () => req.end(payload.slice(half)) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? '';

after(killServers);

describe('configuration errors stop the process with one line', { concurrency: true }, () => {
  const cases: [string, Env, RegExp][] = [
    ['PORT=abc', { PORT: 'abc' }, /PORT/],
    ['DATABASE_URL=mysql://x', { DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    ['a short JWT_SECRET', { JWT_SECRET: 'short' }, /JWT_SECRET/],
    ['LOG_LEVEL=loud', { LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    ['production without JWT_SECRET', { NODE_ENV: 'production' }, /JWT_SECRET/],
    // Pings at the connection timeout or slower: every idle stream would be closed under its client.
    [
      'STREAM_HEARTBEAT_MS not below CONNECTION_TIMEOUT_MS',
      { STREAM_HEARTBEAT_MS: '60000' },
      /STREAM_HEARTBEAT_MS/,
    ],
  ];
  for (const [label, env, names] of cases) {
    test(`${label}: exit 1, one line on stderr naming the variable`, async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'markets-bad-config-'));
      try {
        const result = await run('src/server.ts', [], { ...baseEnv(), DATA_DIR: dataDir, ...env });
        assert.equal(result.code, 1);
        assert.equal(result.stdout, '');
        const lines = result.stderr.trim().split('\n');
        assert.equal(lines.length, 1, result.stderr);
        assert.match(lines[0]!, names);
        assert.match(lines[0]!, /^Invalid configuration: /);
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  }
});

describe('the server process on PGlite: scripts beside it, graceful stop, restart', () => {
  let dataDir: string;
  let env: Env;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'markets-server-'));
    env = { ...baseEnv(), DATA_DIR: dataDir };
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  test('start → token and migrate through the socket → in-flight request survives SIGTERM → scripts offline → restart keeps the data → a stuck request bounds the stop', async () => {
    // A fresh data dir: the server creates and migrates it by itself.
    const first = await startServer(env);
    assert.match(first.out.stdout, /migrations applied/);

    // A second server on the same data dir would corrupt it: it refuses, and the first keeps its socket.
    const twin = await run('src/server.ts', [], env);
    assert.equal(twin.code, 1);
    assert.match(twin.stderr.trim(), /^DATA_DIR .* is in use by a running server/);
    assert.equal(twin.stderr.trim().split('\n').length, 1);

    const viaSocket = await run('scripts/token.ts', ['--email', 'ops@example.com', '--role', 'admin'], env);
    assert.equal(viaSocket.code, 0, viaSocket.stderr);
    assert.match(viaSocket.stderr, /via the running server/);
    const token = lastLine(viaSocket.stdout);
    assert.match(token, JWT, 'the token alone on the last line of stdout');

    const created = await fetch(`${first.url}/api/markets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(marketBody({ slug: 'made-before-restart' })),
    });
    assert.equal(created.status, 201, await created.clone().text());

    const migrateLive = await run('scripts/migrate.ts', [], env);
    assert.equal(migrateLive.code, 0, migrateLive.stderr);
    assert.match(migrateLive.stdout, /up to date \(the running server\)/);

    // SIGTERM while a request is half received: it completes, new connections are refused.
    const inFlight = postInTwoParts(first.url, token, marketBody({ slug: 'made-during-shutdown' }));
    await sleep(300);
    const stopping = first.stop('SIGTERM');
    // Once it says it no longer accepts (a fixed sleep lost the race on a loaded CI machine: 200).
    await eventually(
      async () => /drained: no longer accepting/.test(first.out.stdout),
      10_000,
      'the server stops accepting after SIGTERM',
    );
    const late = await fetch(`${first.url}/healthz`).then(
      (res) => res.status,
      () => 'refused',
    );
    assert.ok(late === 'refused' || late === 503, `a new request during shutdown: ${late}`);
    inFlight.finish();
    const answer = await inFlight.response;
    assert.equal(answer.status, 201, answer.body);
    const stopped = await stopping;
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.ok(stopped.tookMs < 5000, `stopped in ${stopped.tookMs} ms`);
    assert.match(stopped.stdout, /shutting down/);
    assert.ok(!stopped.stdout.includes(token) && !stopped.stderr.includes(token), 'the token is not logged');
    assert.ok(!stopped.stdout.includes(token.split('.')[2]!), 'nor its signature');

    // Server stopped: the scripts open the data dir themselves.
    const offline = await run('scripts/token.ts', ['--email', 'OPS@example.com', '--role', 'admin'], env);
    assert.equal(offline.code, 0, offline.stderr);
    assert.match(offline.stderr, /via PGlite in/);
    const offlineToken = lastLine(offline.stdout);
    assert.match(offlineToken, JWT);
    assert.equal(
      JSON.parse(Buffer.from(offlineToken.split('.')[1]!, 'base64url').toString()).sub,
      JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sub,
      'the same user, found case-insensitively',
    );
    const migrateOffline = await run('scripts/migrate.ts', [], env);
    assert.equal(migrateOffline.code, 0, migrateOffline.stderr);
    assert.match(migrateOffline.stdout, /up to date \(PGlite in /);

    // Restart on the same data dir: both markets are there, and the secret kept in DATA_DIR
    // still verifies the token signed while the server was down.
    const second = await startServer({
      ...env,
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      SHUTDOWN_DRAIN_MS: '120000', // cut short below by a second Ctrl-C
    });
    assert.doesNotMatch(second.out.stdout, /migrations applied/);
    const list = (await (
      await fetch(`${second.url}/api/markets?sort=name&limit=100&fields=slug`)
    ).json()) as { data: { slug: string }[] };
    assert.deepEqual(list.data.map((m: { slug: string }) => m.slug).sort(), [
      'made-before-restart',
      'made-during-shutdown',
    ]);
    const again = await fetch(`${second.url}/api/markets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${offlineToken}` },
      body: JSON.stringify(marketBody()),
    });
    assert.equal(again.status, 201);
    // A request that never finishes holds the stop only SHUTDOWN_TIMEOUT_MS, then the exit code is 1.
    // Ctrl-C twice: the second ends the drain at once.
    const stuck = postInTwoParts(second.url, offlineToken, marketBody());
    stuck.response.catch(() => {}); // its connection is cut
    await sleep(300);
    second.child.kill('SIGINT');
    await sleep(300);
    const stoppedAgain = await second.stop('SIGINT');
    assert.equal(stoppedAgain.code, 1, stoppedAgain.stderr);
    assert.ok(stoppedAgain.tookMs < SHUTDOWN_TIMEOUT_MS + 3000, `stopped in ${stoppedAgain.tookMs} ms`);
    assert.match(stoppedAgain.stdout, /shutdown timed out/);
  });
});

const postgresUrl = process.env.TEST_DATABASE_URL;
describe('the server process on PostgreSQL (DATABASE_URL)', {
  skip: !postgresUrl && 'TEST_DATABASE_URL is not set',
}, () => {
  let database: TestDatabase;
  let dataDir: string;
  before(async () => {
    database = await createTestDatabase('postgres');
    dataDir = await mkdtemp(join(tmpdir(), 'markets-server-pg-'));
  });
  after(async () => {
    await database.cleanup();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('DATABASE_URL switches the server and the scripts to PostgreSQL', async () => {
    const env = {
      ...baseEnv(),
      DATA_DIR: dataDir,
      DATABASE_URL: database.url!,
      JWT_SECRET: 'a-process-test-secret-of-at-least-32-chars',
    };
    const server = await startServer(env);
    const token = await run('scripts/token.ts', ['--email', 'pg@example.com'], env);
    assert.equal(token.code, 0, token.stderr);
    assert.match(token.stderr, /via DATABASE_URL/);
    const res = await fetch(`${server.url}/api/markets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${lastLine(token.stdout)}` },
      body: JSON.stringify(marketBody({ slug: 'stored-in-postgres' })),
    });
    assert.equal(res.status, 201);
    const stopped = await server.stop('SIGTERM');
    assert.equal(stopped.code, 0, stopped.stderr);
    const row = await database.database.db.selectFrom('markets').select('slug').executeTakeFirst();
    assert.equal(row?.slug, 'stored-in-postgres');
  });
});
