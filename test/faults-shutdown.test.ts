import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { buildTestApp } from './helpers/build-app.ts';
import { createTestDatabase, databaseKinds } from './helpers/databases.ts';
import { startFakeEmbeddingsServer } from './helpers/fake-embeddings-server.ts';
import { type Env, killServers, serverEnv, startServer } from './helpers/server-process.ts';

/**
 * SIGTERM under keep-alive load, as behind a load balancer: the balancer keeps sending until its
 * health check sees /readyz fail, then sends no more. Nothing it sent may be reset or left without
 * an answer, and the process must still exit 0 with its port free.
 */
const DRAIN_MS = 3000;
/** How long the "balancer" keeps sending after /readyz fails: well inside the drain. */
const BALANCER_DETECTION_MS = 1000;
/** Each semantic search waits this long for the embeddings provider: slow requests in flight. */
const EMBEDDINGS_DELAY_MS = 1500;
const LOAD_CONNECTIONS = 24;
const IDLE_CONNECTIONS = 16;

interface Outcome {
  path: string;
  /** Milliseconds after the signal (negative: before). */
  sentAt: number;
  doneAt: number;
  status?: number;
  connection?: string;
  body?: string;
  /** ECONNRESET, ECONNREFUSED, 'socket hang up', …: the request got no answer. */
  error?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

after(killServers);

for (const kind of databaseKinds()) {
  test(`draining (${kind}): /readyz 503 DRAINING, other routes still 200 with Connection: close, streams are told`, async (t) => {
    const { app, request, close } = await buildTestApp(kind);
    t.after(close);
    assert.equal((await request({ method: 'GET', url: '/readyz' })).statusCode, 200);
    let told = 0;
    // What a long-lived stream does: end with a reconnect hint when the instance starts draining.
    app.draining.addEventListener('abort', () => told++);

    app.startDraining();
    app.startDraining(); // a second signal changes nothing
    assert.equal(told, 1, 'streams are told once, at the start of the drain');
    const ready = await request({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 503);
    assert.equal(ready.headers.connection, 'close');
    const envelope = ready.json();
    assert.deepEqual(
      { ...envelope, requestId: typeof envelope.requestId },
      {
        success: false,
        error: 'Draining: this instance is shutting down, use another',
        code: 'DRAINING',
        requestId: 'string',
      },
    );
    const list = await request({ method: 'GET', url: '/api/markets' });
    assert.equal(list.statusCode, 200);
    assert.equal(list.headers.connection, 'close');
  });
}

// The drain does not involve the database, and a server process over a fresh PGlite data dir is
// slow to start: the process runs once, on PostgreSQL when there is one (the test above covers both).
{
  const kind = databaseKinds().at(-1)!;
  describe(`SIGTERM under keep-alive load drains, then stops (${kind})`, () => {
    test('0 resets, /readyz 503 at once while other routes answer 200 with Connection: close, exit 0, port free', async (t) => {
      const embeddings = await startFakeEmbeddingsServer(8, () => ({
        kind: 'ok',
        delayMs: EMBEDDINGS_DELAY_MS,
      }));
      const dataDir = await mkdtemp(join(tmpdir(), 'markets-drain-'));
      const database = kind === 'postgres' ? await createTestDatabase('postgres') : undefined;
      t.after(async () => {
        await embeddings.close();
        await database?.cleanup();
        await rm(dataDir, { recursive: true, force: true });
      });
      const env: Env = serverEnv({
        DATA_DIR: dataDir,
        ...(database && { DATABASE_URL: database.url! }),
        JWT_SECRET: 'a-drain-test-secret-of-at-least-32-chars',
        SHUTDOWN_DRAIN_MS: String(DRAIN_MS),
        WORKERS: '0',
        RATE_LIMIT_PER_MINUTE: '0',
        LOGIN_RATE_LIMIT_PER_MINUTE: '0',
        PASSWORD_HASH_MEMORY_KIB: '64',
        PASSWORD_HASH_ITERATIONS: '1',
        EMBEDDINGS_PROVIDER: 'openai',
        EMBEDDINGS_URL: embeddings.url,
        EMBEDDINGS_API_KEY: 'test-key',
        EMBEDDING_DIMENSIONS: '8',
        EMBEDDINGS_MAX_RETRIES: '0',
      });
      const server = await startServer(env);
      const port = Number(new URL(server.url).port);

      let signalAt = Number.POSITIVE_INFINITY;
      const now = () => Date.now() - signalAt;
      const outcomes: Outcome[] = [];
      /** One request; resolves with what happened to it, never rejects. */
      const send = (
        agent: http.Agent | false,
        path: string,
        init: { method?: string; body?: string; bodyAfter?: Promise<unknown> } = {},
      ) =>
        new Promise<Outcome>((resolve) => {
          const outcome: Outcome = { path, sentAt: now(), doneAt: 0 };
          outcomes.push(outcome);
          const done = (patch: Partial<Outcome>) => {
            Object.assign(outcome, patch, { doneAt: now() });
            resolve(outcome);
          };
          const req = http.request(`${server.url}${path}`, {
            agent,
            method: init.method ?? 'GET',
            headers: init.body
              ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(init.body) }
              : {},
          });
          req.on('response', (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk) => {
              body += chunk;
            });
            res.on('end', () => done({ status: res.statusCode, connection: res.headers.connection, body }));
            res.on('error', (error: NodeJS.ErrnoException) => done({ error: error.code ?? error.message }));
          });
          req.on('error', (error: NodeJS.ErrnoException) => done({ error: error.code ?? error.message }));
          if (!init.body) return void req.end();
          // Half the body now, the rest later: the request is in flight until then.
          const half = Math.floor(init.body.length / 2);
          req.write(init.body.slice(0, half));
          void (init.bodyAfter ?? Promise.resolve()).then(() => req.end(init.body!.slice(half)));
        });

      // Load: keep-alive connections that send back to back until the balancer stops sending.
      const loadAgent = new http.Agent({ keepAlive: true });
      let stopSendingAt = Number.POSITIVE_INFINITY;
      const loops = Array.from({ length: LOAD_CONNECTIONS }, async (_, i) => {
        for (let n = 0; now() < stopSendingAt; n++) {
          const result = await send(loadAgent, (i + n) % 2 ? '/healthz' : '/api/markets?limit=5');
          if (result.error) await sleep(10);
        }
      });
      // Idle keep-alive connections, used once and then left in their pool until the signal.
      const idleAgent = new http.Agent({ keepAlive: true, scheduling: 'fifo' });
      await Promise.all(Array.from({ length: IDLE_CONNECTIONS }, () => send(idleAgent, '/healthz')));
      // Slow requests in flight across the signal: semantic searches waiting for the provider, and
      // logins whose body arrives only after the drain is over.
      const slowAgent = new http.Agent({ keepAlive: true });
      const slow = Array.from({ length: 6 }, (_, i) => send(slowAgent, `/api/markets/search?q=before+${i}`));
      const drainOver = new Promise((resolve) => setTimeout(resolve, 300 + DRAIN_MS + 700));
      const login = JSON.stringify({ email: 'nobody@example.com', password: 'not-the-password' });
      const uploads = Array.from({ length: 3 }, () =>
        send(slowAgent, '/api/auth/login', { method: 'POST', body: login, bodyAfter: drainOver }),
      );
      await sleep(300);

      signalAt = Date.now();
      const stopping = server.stop('SIGTERM', DRAIN_MS + 20_000);
      // Requests on the idle connections in the first ~50 ms: today's resets.
      const onIdle = Array.from({ length: IDLE_CONNECTIONS }, (_, i) =>
        sleep(i * 3).then(() => send(idleAgent, '/api/markets?limit=1')),
      );
      // The balancer's health check, on a new connection each time.
      let readyz: Outcome | undefined;
      while (now() < 1500) {
        const probe = await send(false, '/readyz');
        if (probe.status === 503) {
          readyz = probe;
          break;
        }
        await sleep(20);
      }
      const readyzFailedAt = readyz?.doneAt ?? now();
      // The balancer stops sending a while after it saw /readyz fail; slow searches sent meanwhile
      // are still in flight when the drain ends.
      await sleep(Math.max(0, readyzFailedAt + BALANCER_DETECTION_MS - 300 - now()));
      slow.push(...Array.from({ length: 6 }, (_, i) => send(slowAgent, `/api/markets/search?q=during+${i}`)));
      stopSendingAt = readyzFailedAt + BALANCER_DETECTION_MS;
      const [slowAnswers, uploadAnswers] = await Promise.all([
        Promise.all(slow),
        Promise.all(uploads),
        ...loops,
        ...onIdle,
      ]);
      const stopped = await stopping;
      const exitAt = stopped.tookMs;
      loadAgent.destroy();
      idleAgent.destroy();
      slowAgent.destroy();

      const failed = outcomes.filter((o) => o.error);
      const errors: Record<string, number> = {};
      for (const o of failed) errors[o.error!] = (errors[o.error!] ?? 0) + 1;
      const afterReadyz = outcomes.filter((o) => o.sentAt > readyzFailedAt && o.path !== '/readyz');
      const lastAnswerAt = Math.max(...outcomes.filter((o) => o.status).map((o) => o.doneAt));
      t.diagnostic(
        JSON.stringify({
          requests: outcomes.length,
          errors,
          readyzFailedAfterMs: readyz?.doneAt,
          sentAfterReadyzFailed: afterReadyz.length,
          lastAnswerAtMs: lastAnswerAt,
          exitAtMs: exitAt,
          exitCode: stopped.code,
        }),
      );

      assert.deepEqual(errors, {}, 'no request reset, refused or left without an answer');
      assert.ok(readyz, '/readyz answered 503 within 1.5 s of SIGTERM');
      const envelope = JSON.parse(readyz.body!);
      assert.equal(envelope.success, false);
      assert.equal(envelope.code, 'DRAINING');
      assert.match(envelope.error, /draining/i);
      assert.equal(typeof envelope.requestId, 'string');

      // Meanwhile the other routes answer as usual, and tell kept-alive clients to hang up.
      const loadAnswers = outcomes.filter((o) => o.path === '/healthz' || o.path.startsWith('/api/markets?'));
      assert.deepEqual(new Set(loadAnswers.map((o) => o.status)), new Set([200]), 'every load request: 200');
      assert.ok(afterReadyz.length >= LOAD_CONNECTIONS, `${afterReadyz.length} requests sent while draining`);
      const keptAlive = afterReadyz.filter((o) => o.connection !== 'close');
      assert.equal(
        keptAlive.length,
        0,
        `answers while draining without Connection: close: ${keptAlive.length}`,
      );
      for (const o of slowAnswers) assert.equal(o.status, 200, `${o.path}: ${o.status} ${o.body}`);
      for (const o of uploadAnswers) {
        assert.ok(o.status! < 500, `a login finished after the drain: ${o.status} ${o.body}`);
        assert.ok(o.sentAt < 0 && o.doneAt > DRAIN_MS, 'it was in flight when the listener closed');
      }

      assert.equal(stopped.code, 0, stopped.stderr);
      assert.ok(exitAt >= DRAIN_MS, `the process drained before it exited (${exitAt} ms)`);
      assert.ok(exitAt < DRAIN_MS + 10_000, `and exited soon after (${exitAt} ms)`);
      // The port is free: nothing answers on it, and it can be bound again.
      const probe = await new Promise<string>((resolve) =>
        net
          .connect(port, '127.0.0.1')
          .once('connect', function (this: net.Socket) {
            this.destroy();
            resolve('connected');
          })
          .once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message)),
      );
      assert.equal(probe, 'ECONNREFUSED');
      const rebind = net.createServer();
      await new Promise<void>((resolve, reject) =>
        rebind.once('error', reject).listen(port, '127.0.0.1', resolve),
      );
      await new Promise((resolve) => rebind.close(resolve));
    });
  });
}
