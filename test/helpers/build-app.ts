import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { type Config, configWith } from '../../src/config/env.ts';
import type { Database, DatabaseKind } from '../../src/db/database.ts';
import type { Role } from '../../src/db/schema.ts';
import { createLogger } from '../../src/lib/logger.ts';
import { createTokenService } from '../../src/modules/auth/tokens.ts';
import { createTestDatabase } from './databases.ts';

export const TEST_JWT_SECRET = 'test-secret-that-is-at-least-32-characters-long';

export interface TestApp {
  app: FastifyInstance;
  database: Database;
  config: Config;
  /** Every log line the app wrote, parsed. */
  logs: Record<string, unknown>[];
  /** Creates a user and returns it with a valid bearer token. */
  user(
    role?: Role,
    name?: string,
  ): Promise<{ id: string; email: string; token: string; auth: { authorization: string } }>;
  sign(claims: { sub: string; email: string; role: Role }, ttlSeconds?: number): Promise<string>;
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

let userCounter = 0;

/** The whole app over a fresh database of the given kind, with logs captured. */
export async function buildTestApp(
  kind: DatabaseKind,
  env: Partial<Record<keyof Config, string>> = {},
): Promise<TestApp> {
  const { database, cleanup } = await createTestDatabase(kind);
  const config = configWith({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'info',
    // Every request of a test comes from one address: limits are tested where they are the subject.
    RATE_LIMIT_PER_MINUTE: '0',
    LOGIN_RATE_LIMIT_PER_MINUTE: '0',
    TRADE_RATE_LIMIT_PER_MINUTE: '0',
    COMMENT_RATE_LIMIT_PER_MINUTE: '0',
    // The market.closed sweep's polls would count as database queries of tests that count them;
    // the tests of the sweep set their own interval.
    MARKET_CLOSE_INTERVAL_MS: '3600000',
    // So do the streams' and the webhook dispatcher's safety-net polls: streams are woken by each
    // commit anyway, and the tests of delivery set their own intervals.
    STREAM_POLL_INTERVAL_MS: '60000',
    WEBHOOK_DISPATCH_INTERVAL_MS: '60000',
    // The leaderboard refresh (every minute by default) would too; its tests run it themselves.
    LEADERBOARD_REFRESH_CRON: '0 * * * *',
    REGISTRATIONS_PER_IP_PER_DAY: '0',
    SIGNUP_GRANTS_PER_IP_PER_DAY: '0',
    ...env,
  });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger(config.LOG_LEVEL, { destination: sink });
  // A test whose app fails to build must still end: an open database keeps the process alive.
  const app = await buildApp({ config, database, jwtSecret: TEST_JWT_SECRET, logger }).catch(
    async (error) => {
      await cleanup().catch(() => {});
      throw error;
    },
  );
  await app.ready();
  const tokens = createTokenService(TEST_JWT_SECRET, 3600);
  return {
    app,
    database,
    config,
    logs,
    async user(role = 'user', name) {
      userCounter++;
      const email = `user${userCounter}-${process.pid}-${Date.now()}@example.com`;
      const row = await database.db
        .insertInto('users')
        .values({ email, name: name ?? `User ${userCounter}`, role })
        .returning(['id', 'email'])
        .executeTakeFirstOrThrow();
      const token = await tokens.sign({ sub: row.id, email: row.email, role });
      return { ...row, token, auth: { authorization: `Bearer ${token}` } };
    },
    sign: (claims, ttl) => tokens.sign(claims, ttl),
    request: (options) => app.inject(options),
    async close() {
      await app.close();
      await cleanup().catch(() => {});
    },
  };
}
