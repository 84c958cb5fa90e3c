import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { type Config, configWith } from '../../src/config/env.ts';
import { type Database, type DatabaseKind, openDatabase } from '../../src/db/database.ts';
import type { Role } from '../../src/db/schema.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { createTokenService } from '../../src/modules/auth/tokens.ts';
import { TEST_JWT_SECRET } from './build-app.ts';
import { createTestDatabase } from './databases.ts';
import { eventually } from './eventually.ts';

/** One app process-equivalent: its own Database handle and logs, listening on 127.0.0.1. */
export interface Instance {
  app: FastifyInstance;
  database: Database;
  logs: Record<string, unknown>[];
  /** http://127.0.0.1:PORT */
  url: string;
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

export interface Cluster {
  instances: Instance[];
  user(role?: Role): Promise<{ id: string; email: string; auth: { authorization: string } }>;
  close(): Promise<void>;
}

let userCounter = 0;

/**
 * `count` instances of the app over one shared database (each with its own connection pool or
 * Kysely handle, like separate processes), served over real HTTP. Shared state between them is
 * only what the configuration makes shared (Redis with REDIS_URL).
 */
export async function startInstances(
  kind: DatabaseKind,
  count: number,
  /** The same configuration for every instance, or one per instance (by index). */
  env: Partial<Record<keyof Config, string>> | ((index: number) => Partial<Record<keyof Config, string>>),
  /** Adds test-only routes (e.g. to try a rate-limit preset) before the app starts. */
  register?: (app: FastifyInstance, config: Config) => void,
): Promise<Cluster> {
  const shared = await createTestDatabase(kind);
  const instances: Instance[] = [];
  for (let i = 0; i < count; i++) {
    const config = configWith({
      NODE_ENV: 'test',
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'info',
      // The market.closed sweep's polls would count as database queries (see build-app.ts).
      MARKET_CLOSE_INTERVAL_MS: '3600000',
      ...(typeof env === 'function' ? env(i) : env),
    });
    const database =
      i === 0
        ? shared.database
        : shared.url
          ? await openDatabase({ url: shared.url, poolSize: 5 })
          : // One PGlite per process is the rule; the first instance owns and closes it.
            { ...(await openDatabase({ pglite: shared.database.pglite! })), close: async () => {} };
    const logs: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line));
        done();
      },
    });
    const app = await buildApp({
      config,
      database,
      jwtSecret: TEST_JWT_SECRET,
      logger: createLogger('info', { destination: sink }),
    });
    register?.(app, config);
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    instances.push({ app, database, logs, url, fetch: (path, init) => fetch(url + path, init) });
    // With Redis, an instance counts requests in memory until it is connected, and reads past the
    // cache until its first catch-up with the event log: a test starts once it uses Redis.
    if (config.REDIS_URL) {
      await eventually(
        async () => ((await (await fetch(`${url}/readyz`)).json()) as { status: string }).status === 'ok',
        15_000,
        `instance ${i} ready with Redis`,
      );
    }
  }
  const tokens = createTokenService(TEST_JWT_SECRET, 3600);
  return {
    instances,
    async user(role = 'user') {
      userCounter++;
      const email = `cluster-user${userCounter}-${process.pid}-${Date.now()}@example.com`;
      const row = await shared.database.db
        .insertInto('users')
        .values({ email, name: `User ${userCounter}`, role })
        .returning(['id', 'email'])
        .executeTakeFirstOrThrow();
      const token = await tokens.sign({ sub: row.id, email: row.email, role });
      return { ...row, auth: { authorization: `Bearer ${token}` } };
    },
    async close() {
      // The first instance owns the shared PGlite: close it last.
      for (const instance of instances.slice().reverse()) {
        const closing = instance.app.close();
        // fetch keeps connections alive; the test is over, so do not wait for the client to drop them.
        instance.app.server.closeAllConnections();
        await closing;
      }
      await shared.cleanup().catch(() => {});
    },
  };
}

export const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

// biome-ignore lint/suspicious/noExplicitAny: tests read bodies loosely, as inject's res.json() does
type Loose = any;

/** A response body as JSON. */
export const body = (res: Response): Promise<Loose> => res.json();
