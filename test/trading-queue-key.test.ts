import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createEventRepository } from '../src/modules/events/events.repository.ts';
import { createMarketRepository } from '../src/modules/markets/markets.repository.ts';
import { createTradingModule } from '../src/modules/trading/index.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { createMarket, ledger, type TestUser } from './helpers/trading.ts';

// A session other than the app's holds the market row, so this needs a server (PGlite has one session).
describe('trades on one market share one queue, however the market is named (postgres)', {
  skip: process.env.TEST_DATABASE_URL ? false : 'needs TEST_DATABASE_URL (a PostgreSQL server)',
}, () => {
  let t: TestApp;
  let admin: TestUser;

  before(async () => {
    // Not about deadlines: a loaded machine must not turn the waiting trade into a 503.
    t = await buildTestApp('postgres', { WRITE_DEADLINE_MS: '60000' });
    admin = await t.user('admin');
  });
  after(() => t.close());

  test('a trade by slug and one by the upper-case id run one after the other', async () => {
    const m = await createMarket(t, admin);
    const [alice, bob] = [await t.user(), await t.user()];
    const { trading } = createTradingModule({
      database: t.database,
      config: t.config,
      markets: createMarketRepository(t.database.db),
      events: createEventRepository(t.database.db),
      log: t.app.log,
    });
    const input = { outcome: 'YES' as const, side: 'buy' as const, quantity: 300 };
    const started: string[] = [];

    const holder = new pg.Client({ connectionString: t.database.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('select id from markets where id = $1 for update', [m.id]);

      // The trade by slug takes its turn and waits for the row; the one by id must wait behind it.
      let firstStarted!: () => void;
      const first = new Promise<void>((resolve) => {
        firstStarted = resolve;
      });
      const bySlug = trading.trade({ id: alice.id, email: alice.email, role: 'user' }, m.slug, input, {
        abandoned: () => {
          started.push('slug');
          firstStarted();
          return false;
        },
      });
      await first;
      const byId = trading.trade({ id: bob.id, email: bob.email, role: 'user' }, m.id.toUpperCase(), input, {
        abandoned: () => {
          started.push('ID');
          return false;
        },
      });
      await sleep(500);
      assert.deepEqual(started, ['slug'], 'the trade by id is queued behind the one by slug');

      await holder.query('rollback');
      const [a, b] = await Promise.all([bySlug, byId]);
      assert.deepEqual(started, ['slug', 'ID']);
      assert.equal(b.body.market.version, a.body.market.version + 1, 'the second trade saw the first');
    } finally {
      await holder.end();
    }
    assert.equal((await ledger(t, admin)).difference, 0);
  });
});
