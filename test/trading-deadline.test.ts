import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { ApiError } from '../src/lib/errors.ts';
import { createEventRepository } from '../src/modules/events/events.repository.ts';
import { createMarketRepository } from '../src/modules/markets/markets.repository.ts';
import { createTradingModule } from '../src/modules/trading/index.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { balanceOf, createMarket, ledger, type TestUser, trade } from './helpers/trading.ts';

const DEADLINE_MS = 1500;
/** Generous on a loaded 2-core machine, and still far below the 10 s statement timeout. */
const SLACK_MS = 1500;

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

// PGlite has one session: a transaction held open there holds the whole database (sign-in included),
// so "another session holds the market row" exists only on a server.
describe('trades behind a locked market answer by their deadline (postgres)', {
  skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL (a PostgreSQL server)',
}, () => {
  let t: TestApp;
  let admin: TestUser;

  before(async () => {
    // DATABASE_STATEMENT_TIMEOUT_MS stays at its 10 s default: the deadline, not it, must decide.
    t = await buildTestApp('postgres', { WRITE_DEADLINE_MS: String(DEADLINE_MS) });
    admin = await t.user('admin');
  });
  after(() => t.close());

  // On a market this instance has traded on, each group of buys is first one statement
  // (buysOnKnownBook), which skips a market another session holds: those buys too must wait
  // under locks and answer by their deadline.
  for (const known of [false, true]) {
    test(`20 queued trades all answer 503 with Retry-After at the deadline, and none commits later (${known ? 'a market traded here: groups of buys' : 'a new market'})`, async () => {
      const m = await createMarket(t, admin);
      if (known)
        assert.equal(
          (await trade(t, admin, m.id, { outcome: 'YES', side: 'buy', amount: 1 })).statusCode,
          201,
        );
      const traders = await Promise.all(Array.from({ length: 10 }, () => t.user()));
      const tradesBefore = await t.database.db
        .selectFrom('trades')
        .select('id')
        .where('marketId', '=', m.id)
        .execute();

      const holder = new pg.Client({ connectionString: t.database.url });
      await holder.connect();
      try {
        await holder.query('begin');
        await holder.query('select id from markets where id = $1 for update', [m.id]);

        // The market named three ways: they must share one queue (one pool connection waits on the lock).
        const forms = [m.id, m.id.toUpperCase(), m.slug];
        const started = Date.now();
        const answers = Promise.all(
          Array.from({ length: 20 }, async (_, i) => {
            const res = await trade(t, traders[i % traders.length]!, forms[i % forms.length], {
              outcome: 'YES',
              side: 'buy',
              amount: 3,
            });
            return { res, ms: Date.now() - started };
          }),
        );
        // Sampled until the deadline: the most app connections ever seen waiting on the market's lock.
        let mostWaiting = 0;
        while (Date.now() - started < DEADLINE_MS - 100) {
          // In the holder's transaction pg_stat_activity would stay as its first read saw it.
          await holder.query('select pg_stat_clear_snapshot()');
          const { rows } = await holder.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'
              and query like '%for no key update%'`,
          );
          mostWaiting = Math.max(mostWaiting, rows[0]!.n);
          await sleep(100);
        }
        // (A search-indexing job may wait on the row too: only the trades' lock statements count. On
        // a very loaded machine sign-in alone may use the budget, and then none reaches the lock.)
        assert.ok(mostWaiting <= 1, `one connection at most waits on the market lock (${mostWaiting})`);

        // Released well after the deadline, whatever happened: the unfixed code commits then.
        const release = sleep(DEADLINE_MS + 2000).then(() => holder.query('rollback'));
        const results = await answers;
        await release;

        const times = results.map((r) => r.ms).sort((a, b) => a - b);
        console.log(
          `time to 503 over ${times.length} trades: p50 ${percentile(times, 50)} ms, max ${times.at(-1)} ms (deadline ${DEADLINE_MS} ms)`,
        );
        for (const { res, ms } of results) {
          assert.equal(res.statusCode, 503, res.body);
          assert.equal(res.json().success, false);
          assert.equal(res.json().code, 'SERVICE_UNAVAILABLE');
          assert.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After says when to come back');
          assert.ok(ms >= DEADLINE_MS - 50, `not given up early (${ms} ms)`);
          assert.ok(ms <= DEADLINE_MS + SLACK_MS, `answered by the deadline (${ms} ms)`);
        }
      } finally {
        await holder.end();
      }

      // Lock released: nothing that answered 503 may commit now.
      await sleep(500);
      const tradesAfter = await t.database.db
        .selectFrom('trades')
        .select('id')
        .where('marketId', '=', m.id)
        .execute();
      assert.equal(tradesAfter.length, tradesBefore.length, 'no trade committed after its 503');
      for (const u of traders) assert.equal(await balanceOf(t, u.id), 100_000);
      assert.equal((await ledger(t, admin)).difference, 0);

      // And the market is served again at once.
      const res = await trade(t, traders[0]!, m.id, { outcome: 'YES', side: 'buy', amount: 3 });
      assert.equal(res.statusCode, 201, res.body);
    });
  }
});

// On PGlite the wait is for its one session, held here by a transaction (as a script's over the
// PGlite socket would). Sign-in needs that session too, so the trades go to the service directly.
describe('trades waiting for the PGlite session answer by their deadline (pglite)', () => {
  let t: TestApp;
  let admin: TestUser;

  before(async () => {
    t = await buildTestApp('pglite', { WRITE_DEADLINE_MS: String(DEADLINE_MS) });
    admin = await t.user('admin');
  });
  after(() => t.close());

  test('20 queued trades all fail with 503 and Retry-After at the deadline, and none commits later', async () => {
    const m = await createMarket(t, admin);
    const traders = await Promise.all(Array.from({ length: 5 }, () => t.user()));
    const { trading } = createTradingModule({
      database: t.database,
      config: t.config,
      markets: createMarketRepository(t.database.db),
      events: createEventRepository(t.database.db),
      log: t.app.log,
    });

    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding!: Promise<void>;
    await new Promise<void>((locked) => {
      holding = t.database.db.transaction().execute(async (trx) => {
        await sql`select id from markets where id = ${m.id} for update`.execute(trx);
        locked();
        await released;
      });
    });

    const started = Date.now();
    // Released well after the deadline, whatever happened: the unfixed code trades then.
    const releasing = sleep(DEADLINE_MS + 1000).then(release);
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const u = traders[i % traders.length]!;
        const input = { outcome: 'YES' as const, side: 'buy' as const, quantity: 300 };
        const error = await trading.trade({ id: u.id, email: u.email, role: 'user' }, m.id, input).then(
          () => undefined,
          (e: unknown) => e,
        );
        return { error, ms: Date.now() - started };
      }),
    );
    await releasing;
    await holding;

    const times = outcomes.map((o) => o.ms).sort((a, b) => a - b);
    console.log(
      `time to 503 over ${times.length} trades (PGlite): p50 ${percentile(times, 50)} ms, max ${times.at(-1)} ms (deadline ${DEADLINE_MS} ms)`,
    );
    for (const { error, ms } of outcomes) {
      assert.ok(error instanceof ApiError, `a 503, not a trade (${String(error)})`);
      assert.equal(error.statusCode, 503);
      assert.ok((error.retryAfterSeconds ?? 0) >= 1, 'Retry-After says when to come back');
      assert.ok(
        ms >= DEADLINE_MS - 50 && ms <= DEADLINE_MS + SLACK_MS,
        `answered at the deadline (${ms} ms)`,
      );
    }

    // The session is free again: what was queued for it must not trade now.
    await trading.idle();
    await sleep(300);
    const trades = await t.database.db
      .selectFrom('trades')
      .select('id')
      .where('marketId', '=', m.id)
      .execute();
    assert.equal(trades.length, 0, 'no trade committed after its 503');
    for (const u of traders) assert.equal(await balanceOf(t, u.id), 100_000);
    assert.equal((await ledger(t, admin)).difference, 0);
  });
});
