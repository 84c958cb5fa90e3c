import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { configWith } from '../src/config/env.ts';
import { createJobQueue, type JobQueue, jobQueueOptions } from '../src/lib/jobs/queue.ts';
import { createLogger } from '../src/lib/logger.ts';
import { createEventsModule } from '../src/modules/events/index.ts';
import { createMarketRepository } from '../src/modules/markets/index.ts';
import { type BackgroundWork, startBackgroundWork } from '../src/modules/module.ts';
import { createTradingModule } from '../src/modules/trading/index.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';

const PRUNE = 'maintenance.prune-idempotency-keys';

/** One process's worth of workers on the test's database: a queue of its own and the modules' background work. */
async function startWorkerHost(t: TestApp, lines: Record<string, unknown>[]) {
  const config = { ...t.config, IDEMPOTENCY_PRUNE_CRON: '* * * * *' };
  const log = createLogger('info', {
    destination: new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    }),
  });
  // A cron pass every second instead of every 30, so that two hosts race for many passes.
  const queue = await createJobQueue(t.database, {
    ...jobQueueOptions(config, log, true),
    pollIntervalMs: 500,
    cronIntervalSeconds: 1,
  });
  const events = createEventsModule({ database: t.database, config, log });
  const trading = createTradingModule({
    database: t.database,
    config,
    markets: createMarketRepository(t.database.db),
    events: events.events,
    log,
  });
  const background = await startBackgroundWork(queue, [trading, events], log);
  return { queue, background };
}

/** pg-boss fires a minute's occurrence once; a test that must see one firing stays inside one minute. */
async function awayFromMinuteBoundary() {
  const second = new Date().getUTCSeconds();
  if (second > 35) await sleep((61 - second) * 1000);
}

async function scheduleRows(t: TestApp) {
  const { rows } = await sql<{ name: string; cron: string }>`
    select name, cron from pgboss.schedule order by name`.execute(t.database.db);
  return rows;
}

for (const kind of databaseKinds()) {
  describe(`maintenance runs as pg-boss schedules, once per deployment (${kind})`, () => {
    let t: TestApp;
    const hosts: { queue: JobQueue; background: BackgroundWork }[] = [];

    before(async () => {
      // The API alone, as deployed beside worker processes: it serves, and runs no maintenance.
      t = await buildTestApp(kind, { WORKERS: 'false', IDEMPOTENCY_PRUNE_CRON: '* * * * *' });
    });
    after(async () => {
      for (const host of hosts) {
        await host.background.stop();
        await host.queue.stop(1000);
      }
      await t.close();
    });

    const buyWithKey = async (user: Awaited<ReturnType<TestApp['user']>>, marketId: string, key: string) =>
      t.request({
        method: 'POST',
        url: `/api/markets/${marketId}/trades`,
        headers: { ...user.auth, 'idempotency-key': key },
        payload: { outcome: 'YES', side: 'buy', amount: 2 },
      });

    test('an expired Idempotency-Key is pruned once by two worker processes, and never by an API with WORKERS=false', async () => {
      const admin = await t.user('admin');
      const bob = await t.user();
      const market = await t.request({
        method: 'POST',
        url: '/api/markets',
        headers: admin.auth,
        payload: marketBody(),
      });
      assert.equal(market.statusCode, 201);
      const marketId = market.json().data.id as string;
      const first = await buyWithKey(bob, marketId, 'old-order');
      assert.equal(first.statusCode, 201);
      await sql`update idempotency_keys set created_at = now() - interval '25 hours'
                where user_id = ${bob.id} and key = 'old-order'`.execute(t.database.db);

      // The API with WORKERS=false registers no schedule and prunes nothing: the old key still replays.
      await sleep(3000);
      assert.deepEqual(await scheduleRows(t), []);
      const replay = await buyWithKey(bob, marketId, 'old-order');
      assert.equal(replay.headers['idempotent-replayed'], 'true');

      // Two worker processes on the same database, each with its own pg-boss and cron passes every second.
      await awayFromMinuteBoundary();
      const lines: Record<string, unknown>[] = [];
      hosts.push(await startWorkerHost(t, lines), await startWorkerHost(t, lines));
      await eventually(
        async () => {
          const { rows } = await sql<{ n: number }>`
            select count(*)::int as n from idempotency_keys where user_id = ${bob.id}`.execute(t.database.db);
          return rows[0]!.n === 0;
        },
        30_000,
        'the expired key pruned',
      );
      // Many more passes of both hosts come and go within the minute: the occurrence is not sent again.
      await sleep(4000);
      assert.deepEqual(await hosts[0]!.queue.countByState(PRUNE), { completed: 1 });
      assert.equal(lines.filter((line) => line.msg === 'expired idempotency keys pruned').length, 1);
      assert.deepEqual(
        (await scheduleRows(t)).map((row) => [row.name, row.cron]),
        [
          ['maintenance.expire-orders', '* * * * *'],
          ['maintenance.prune-events', '30 * * * *'],
          [PRUNE, '* * * * *'],
        ],
      );

      // What the user notices: the key trades anew instead of replaying the first answer.
      const again = await buyWithKey(bob, marketId, 'old-order');
      assert.equal(again.statusCode, 201);
      assert.equal(again.headers['idempotent-replayed'], undefined);
      assert.notEqual(again.json().data.trade.id, first.json().data.trade.id);
    });
  });

  test(`an API with WORKERS on registers the maintenance schedules at the configured times (${kind})`, async () => {
    const t = await buildTestApp(kind, {
      IDEMPOTENCY_PRUNE_CRON: '5 */2 * * *',
      EVENT_PRUNE_CRON: '0 3 * * *',
      ORDER_EXPIRY_CRON: '*/5 * * * *',
      PORTFOLIO_SNAPSHOT_CRON: '10 0 * * *',
      LEADERBOARD_REFRESH_CRON: '*/5 * * * *',
    });
    try {
      assert.deepEqual(
        (await scheduleRows(t)).map((row) => [row.name, row.cron]),
        [
          ['leaderboard.refresh', '*/5 * * * *'],
          ['leaderboard.snapshot-portfolios', '10 0 * * *'],
          ['maintenance.expire-orders', '*/5 * * * *'],
          ['maintenance.prune-events', '0 3 * * *'],
          [PRUNE, '5 */2 * * *'],
        ],
      );
    } finally {
      await t.close();
    }
  });
}

test('a cron expression that is not five fields is refused at start, naming the setting', () => {
  assert.throws(
    () => configWith({ NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32), EVENT_PRUNE_CRON: '*/10 * * * * *' }),
    /EVENT_PRUNE_CRON/,
  );
});
