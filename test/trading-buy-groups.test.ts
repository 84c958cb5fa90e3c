import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';
import { balanceOf, createMarket, ledger, type TestUser, trade } from './helpers/trading.ts';

/**
 * Buys without Idempotency-Key that queue on one market while its turn is taken run together in
 * the next turn: one statement for all of them when the instance knows the market's row
 * (trading.service.ts queueBuy, trade-execution.ts buysOnKnownBook). Each must still be answered
 * as if it had traded alone, one after another: its own line, price, balance and event, and its
 * own refusal when it has one, which must not cost the others theirs.
 */
for (const kind of databaseKinds()) {
  describe(`buys that queue together on one market (${kind})`, () => {
    let t: TestApp;
    let admin: TestUser;

    before(async () => {
      t = await buildTestApp(kind, { WRITE_DEADLINE_MS: '60000', TRADE_RATE_LIMIT_PER_MINUTE: '0' });
      admin = await t.user('admin');
    });
    after(() => t.close());

    /**
     * Sends `buys` at once, on PostgreSQL while another session holds the market's row, so that
     * all but the first queue behind the first's turn (PGlite has one session: they queue behind
     * its statement as it runs). Answers the responses in the order given.
     */
    async function together(marketId: string, buys: { user: TestUser; body: Record<string, unknown> }[]) {
      if (kind === 'pglite') return Promise.all(buys.map((b) => trade(t, b.user, marketId, b.body)));
      const holder = new pg.Client({ connectionString: t.database.url });
      await holder.connect();
      try {
        await holder.query('begin');
        await holder.query('select 1 from markets where id = $1 for no key update', [marketId]);
        const answers = Promise.all(buys.map((b) => trade(t, b.user, marketId, b.body)));
        // The first turn waits for the row; the other buys have reached the queue by then.
        await eventually(
          async () =>
            (
              await holder.query(
                `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`,
              )
            ).rows[0].n > 0,
          5000,
          "the first buy's statement waits for the row",
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
        await holder.query('commit');
        return await answers;
      } finally {
        await holder.end();
      }
    }

    /** A market this instance has traded on, so it knows the row. */
    async function tradedMarket() {
      const m = await createMarket(t, admin);
      const warm = await t.user();
      assert.equal((await trade(t, warm, m.id, { outcome: 'YES', side: 'buy', amount: 1 })).statusCode, 201);
      return m;
    }

    const tradeEvents = (marketId: string) =>
      t.database.db
        .selectFrom('events')
        .select(['seq', 'payload'])
        .where('marketId', '=', marketId)
        .where('type', '=', 'trade.created')
        .orderBy('seq')
        .execute();

    test('each buy gets its own line, price, balance and event, priced on the book the one before left', async () => {
      const m = await tradedMarket();
      const users = await Promise.all(Array.from({ length: 8 }, () => t.user()));
      const answers = await together(
        m.id,
        users.map((user, i) => ({
          user,
          body: { outcome: 'YES', side: 'buy', amount: 3 + i },
        })),
      );
      for (const res of answers) assert.equal(res.statusCode, 201, res.body);
      const data = answers.map((res) => res.json().data);
      for (const [i, d] of data.entries()) {
        assert.equal(d.trade.userId, users[i]!.id);
        assert.equal(d.trade.amount, 3 + i);
        assert.equal(d.balance, 1000 - (3 + i));
        assert.equal(await balanceOf(t, users[i]!.id), 100_000 - 100 * (3 + i));
      }
      // One after another: each priced where the one before it left the market, in event order.
      const events = await tradeEvents(m.id);
      assert.equal(events.length, 9);
      const answered = new Map(data.map((d) => [d.trade.id, d]));
      for (const [i, event] of events.slice(1).entries()) {
        const payload = event.payload as {
          trade: { id: string; probabilityBefore: number };
          market: unknown;
        };
        const d = answered.get(payload.trade.id);
        assert.ok(d, 'every event is a buy that was answered');
        assert.deepEqual(payload, { trade: d.trade, market: d.market }, 'the event is the trade as answered');
        const previous = (events[i]!.payload as { trade: { probabilityAfter: number } }).trade;
        // The kernel prices "before" and "after" by two formulas: they may differ in the last bit.
        assert.ok(
          Math.abs(payload.trade.probabilityBefore - previous.probabilityAfter) < 1e-12,
          `priced at ${payload.trade.probabilityBefore}, where the one before left ${previous.probabilityAfter}`,
        );
      }
      const row = await t.database.db
        .selectFrom('markets')
        .select(['volume', 'version'])
        .where('id', '=', m.id)
        .executeTakeFirstOrThrow();
      assert.equal(row.volume, 100 * (1 + data.reduce((sum, d) => sum + d.trade.amount, 0)));
      assert.equal((await ledger(t, admin)).difference, 0);
      if (kind === 'postgres') {
        // Those that queued behind the first were written by one transaction.
        const { rows } = await sql<{ n: number }>`
          select count(distinct xmin::text)::int as n from trades where market_id = ${m.id}`.execute(
          t.database.db,
        );
        assert.ok(rows[0]!.n <= 3, `the nine buys took ${rows[0]!.n} transactions`);
      }
    });

    test('a buyer in the group who cannot pay gets a 422; the buys before and after it trade', async () => {
      const m = await tradedMarket();
      const users = await Promise.all(Array.from({ length: 6 }, () => t.user()));
      // The third spends all but 4 units elsewhere first.
      const elsewhere = await createMarket(t, admin);
      const spent = await trade(t, users[2]!, elsewhere.id, { outcome: 'YES', side: 'buy', amount: 996 });
      assert.equal(spent.statusCode, 201, spent.body);
      const answers = await together(
        m.id,
        users.map((user) => ({ user, body: { outcome: 'YES', side: 'buy', amount: 5 } })),
      );
      assert.deepEqual(
        answers.map((res) => res.statusCode),
        [201, 201, 422, 201, 201, 201],
      );
      assert.equal(answers[2]!.json().code, 'INSUFFICIENT_BALANCE');
      assert.equal(await balanceOf(t, users[2]!.id), 400);
      assert.equal(await balanceOf(t, users[3]!.id), 100_000 - 500);
      assert.equal((await tradeEvents(m.id)).length, 6);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('a buy in the group with an answer the market does not have gets a 400; the others trade', async () => {
      const m = await tradedMarket();
      const users = await Promise.all(Array.from({ length: 4 }, () => t.user()));
      const answers = await together(
        m.id,
        users.map((user, i) => ({
          user,
          body:
            i === 1
              ? { answerId: '00000000-0000-4000-8000-000000000000', side: 'buy', amount: 5 }
              : { outcome: 'NO', side: 'buy', amount: 5 },
        })),
      );
      assert.deepEqual(
        answers.map((res) => res.statusCode),
        [201, 400, 201, 201],
        answers.map((res) => res.body).join('\n'),
      );
      assert.equal((await tradeEvents(m.id)).length, 4);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test("a buy in the group refused by its slippage guard gets the guard's answer; the others trade", async () => {
      const m = await tradedMarket();
      const users = await Promise.all(Array.from({ length: 4 }, () => t.user()));
      const answers = await together(
        m.id,
        users.map((user, i) => ({
          user,
          body: { outcome: 'YES', side: 'buy', amount: 5, ...(i === 2 ? { maxProbability: 0.5 } : {}) },
        })),
      );
      assert.deepEqual(
        answers.map((res) => res.statusCode),
        [201, 201, 409, 201],
      );
      assert.equal(answers[2]!.json().code, 'SLIPPAGE');
      assert.equal(await balanceOf(t, users[2]!.id), 100_000);
      assert.equal((await tradeEvents(m.id)).length, 4);
    });
  });
}
