import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.ts';
import { configWith } from '../src/config/env.ts';
import { type Database, openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { createLogger } from '../src/lib/logger.ts';
import { createTokenService } from '../src/modules/auth/tokens.ts';
import { TEST_JWT_SECRET } from './helpers/build-app.ts';
import { marketBody } from './helpers/factories.ts';
import {
  type OwnPostgres,
  ownPostgresServer,
  skipWithoutPostgresBinaries,
} from './helpers/postgres-cluster.ts';
import { openSse } from './helpers/sse-client.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * PostgreSQL restarted under an open stream (a cluster of the test's own): the stream stays open
 * (pings go on), the hub reads the log again once the server is back and LISTEN reconnects, and
 * nothing committed around the restart is skipped.
 */
describe('a stream while PostgreSQL restarts', { skip: skipWithoutPostgresBinaries }, () => {
  let cluster: OwnPostgres;
  let database: Database;
  let app: FastifyInstance;
  let base: string;
  let auth: { authorization: string };
  let marketId: string;
  const logs: Record<string, unknown>[] = [];

  before(async () => {
    cluster = await ownPostgresServer();
    database = await openDatabase({ url: cluster.url, connectTimeoutMs: 1000, poolSize: 5 });
    await migrate(database);
    const config = configWith({
      NODE_ENV: 'test',
      JWT_SECRET: TEST_JWT_SECRET,
      DATABASE_URL: cluster.url,
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      RATE_LIMIT_PER_MINUTE: '0',
      TRADE_RATE_LIMIT_PER_MINUTE: '0',
      WORKERS: 'false',
      STREAM_HEARTBEAT_MS: '250',
    });
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line) logs.push(JSON.parse(line));
        done();
      },
    });
    app = await buildApp({
      config,
      database,
      jwtSecret: TEST_JWT_SECRET,
      logger: createLogger('info', { destination: sink }),
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    const user = await database.db
      .insertInto('users')
      .values({ email: 'restart@example.com', name: 'Restart', role: 'user' })
      .returning(['id', 'email'])
      .executeTakeFirstOrThrow();
    auth = {
      authorization: `Bearer ${await createTokenService(TEST_JWT_SECRET, 3600).sign({ sub: user.id, email: user.email, role: 'user' })}`,
    };
    const res = await fetch(`${base}/api/markets`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify(marketBody()),
    });
    assert.equal(res.status, 201, await res.clone().text());
    marketId = ((await res.json()) as { data: { id: string } }).data.id;
  });
  after(async () => {
    await app?.close().catch(() => {});
    await database?.close().catch(() => {});
    await cluster?.dispose();
  });

  /** A trade, retried while the database is still coming back (503s are expected then). */
  async function buy(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${base}/api/markets/${marketId}/trades`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ outcome: 'YES', side: 'buy', amount: 1 }),
      });
      if (res.status === 201) return;
      assert.equal(res.status, 503, await res.text());
      await sleep(200);
    }
    assert.fail('no trade went through after the restart');
  }

  test('the stream stays open through the restart and receives, in order, everything committed after it', async () => {
    const sub = await openSse(`${base}/api/markets/${marketId}/events`);
    await buy();
    await sub.waitFor(1, 5000);
    const first = Number(sub.events[0]!.id);

    await cluster.stop('fast');
    // Meanwhile: a new stream cannot check its resume point: 503 in the envelope, not a hang.
    const refused = await openSse(`${base}/api/markets/${marketId}/events`, {
      'last-event-id': String(first),
    });
    assert.equal(refused.status, 503, refused.body);
    assert.equal(JSON.parse(refused.body).success, false);
    const pingsBefore = sub.comments.length;
    await sleep(1000);
    assert.ok(sub.comments.length > pingsBefore, 'pings go on while the database is away');
    await cluster.start();

    await buy();
    await buy();
    await sub.waitFor(3, 15_000);
    const { rows } = await database.db
      .selectFrom('events')
      .select('seq')
      .where('marketId', '=', marketId)
      .where('seq', '>=', first)
      .orderBy('seq')
      .execute()
      .then((r) => ({ rows: r.map((e) => e.seq) }));
    assert.deepEqual(
      sub.events.map((e) => Number(e.id)),
      rows,
      'nothing skipped, nothing twice',
    );
    sub.close();
    // And a resume after the restart is exact too.
    const resumed = await openSse(`${base}/api/markets/${marketId}/events`, {
      'last-event-id': String(first),
    });
    try {
      await resumed.waitFor(2, 5000);
      assert.deepEqual(
        resumed.events.map((e) => Number(e.id)),
        rows.slice(1),
      );
    } finally {
      resumed.close();
    }
  });
});
