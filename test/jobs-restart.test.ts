import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { createTestDatabase, databaseKinds, type TestDatabase } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const JWT_SECRET = 'restart-test-secret-that-is-at-least-32-characters';

/** The API as its own process, with the address it listens on once it says so. */
async function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['src/server.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
    if (match) {
      lines.removeAllListeners('line');
      child.stdout!.resume();
      return { child, url: match[1]! };
    }
  }
  throw new Error('the server exited before listening');
}

for (const kind of databaseKinds()) {
  describe(`durable jobs across a crash (${kind})`, () => {
    let dataDir: string;
    let testDb: TestDatabase | undefined;
    let env: Record<string, string>;
    let query: (text: string, values: unknown[]) => Promise<pg.QueryResult>;
    let pool: pg.Pool | undefined;
    const children: ChildProcess[] = [];
    const start = async (extra: Record<string, string> = {}) => {
      const server = await startServer({ ...env, ...extra });
      children.push(server.child);
      return server;
    };

    before(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'markets-restart-'));
      env = {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: '0',
        DATA_DIR: dataDir,
        JWT_SECRET,
        LOG_LEVEL: 'info',
        SHUTDOWN_DRAIN_MS: '0', // nothing to drain: no client is connected when it stops
        WORKER_POLL_INTERVAL_MS: '500',
      };
      if (kind === 'postgres') {
        testDb = await createTestDatabase('postgres');
        env.DATABASE_URL = testDb.url!;
        pool = new pg.Pool({ connectionString: testDb.url, max: 1 });
        query = (text, values) => pool!.query(text, values);
      } else {
        // The running server shares its PGlite through a Unix socket in DATA_DIR.
        query = async (text, values) => {
          const client = new pg.Client({ host: dataDir, user: 'postgres', database: 'postgres' });
          await client.connect();
          try {
            return await client.query(text, values);
          } finally {
            await client.end();
          }
        };
      }
    });
    after(async () => {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
      await pool?.end();
      await testDb?.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    });

    test('a job queued when the process was killed runs after the next start', async () => {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['scripts/token.ts', '--email', 'crash@example.com', '--role', 'user'],
        { cwd: ROOT, env },
      );
      const token = stdout.trim().split('\n').at(-1)!;

      // 1. An API process without workers takes the write; the job is committed with the market.
      const first = await start({ WORKERS: '0' });
      const res = await fetch(`${first.url}/api/markets`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(marketBody({ name: 'Will the crashed job still run?' })),
      });
      assert.equal(res.status, 201);
      const marketId = ((await res.json()) as { data: { id: string } }).data.id;
      const jobState = async () =>
        (
          await query(
            `select state from pgboss.job where name = 'search.index-market' and data->>'marketId' = $1`,
            [marketId],
          )
        ).rows[0]?.state as string | undefined;
      assert.equal(await jobState(), 'created');

      // 2. Killed outright: no shutdown hook runs.
      first.child.kill('SIGKILL');
      await once(first.child, 'exit');

      // 3. The next start (with workers) finds the job and runs it.
      const second = await start();
      try {
        await eventually(async () => (await jobState()) === 'completed', 20_000, 'job completed');
        if (kind === 'pglite') {
          const { rows } = await query('select 1 from market_embeddings where market_id = $1', [marketId]);
          assert.equal(rows.length, 1, 'the market was embedded');
        }
      } finally {
        second.child.kill('SIGTERM');
        const [code] = await once(second.child, 'exit');
        assert.equal(code, 0, 'graceful shutdown exits 0');
      }
    });
  });
}
