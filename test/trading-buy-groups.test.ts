import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { deadlineIn } from '../src/lib/deadline.ts';
import { createMarketRepository } from '../src/modules/markets/markets.repository.ts';
import { createLedgerRepository } from '../src/modules/trading/ledger.repository.ts';
import { buysOnKnownBook } from '../src/modules/trading/trade-execution.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { untilALockIsAwaited } from './helpers/lock-waits.ts';
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
      return togetherOn(buys.map((b) => ({ ...b, marketId })));
    }

    /** `together` for buys on several markets, each holding its own. */
    async function togetherOn(buys: { marketId: string; user: TestUser; body: Record<string, unknown> }[]) {
      const send = () => Promise.all(buys.map((b) => trade(t, b.user, b.marketId, b.body)));
      if (kind === 'pglite') return send();
      const holder = new pg.Client({ connectionString: t.database.url });
      await holder.connect();
      try {
        await holder.query('begin');
        await holder.query('select 1 from markets where id = any($1::uuid[]) order by id for no key update', [
          [...new Set(buys.map((b) => b.marketId))],
        ]);
        const answers = send();
        // The first turn waits for the rows; the other buys have reached the queue by then.
        await untilALockIsAwaited(holder, "the first buys' statement waits for the rows");
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

    test('buys on two markets at once: a refusal on one does not stop the other', async () => {
      const [a, b] = [await tradedMarket(), await tradedMarket()];
      const users = await Promise.all(Array.from({ length: 6 }, () => t.user()));
      // The first spends all but 4 units elsewhere first.
      const elsewhere = await createMarket(t, admin);
      const spent = await trade(t, users[0]!, elsewhere.id, { outcome: 'YES', side: 'buy', amount: 996 });
      assert.equal(spent.statusCode, 201, spent.body);
      const answers = await togetherOn(
        users.map((user, i) => ({
          marketId: i % 2 ? b.id : a.id,
          user,
          body: { outcome: 'YES', side: 'buy', amount: 5 },
        })),
      );
      assert.deepEqual(
        answers.map((res) => res.statusCode),
        [422, 201, 201, 201, 201, 201],
      );
      assert.equal((await tradeEvents(a.id)).length, 3);
      assert.equal((await tradeEvents(b.id)).length, 4);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('the buys of two markets written in one turn are one statement, each market answered apart', async () => {
      const [a, b] = [await tradedMarket(), await tradedMarket()];
      const [rich, poor] = [await t.user(), await t.user()];
      const markets = createMarketRepository(t.database.db);
      // Statements through this handle only: the app's own background reads (the cache follower's
      // poll, the streams' read after a NOTIFY) go through t.database.db at any moment.
      let statements = 0;
      const ledgerRepository = createLedgerRepository(
        t.database.db.withPlugin({
          transformQuery: ({ node }) => {
            statements++;
            return node;
          },
          transformResult: async ({ result }) => result,
        }),
      );
      const [knownA, knownB] = [(await markets.findById(a.id))!, (await markets.findById(b.id))!];
      const buy = (userId: string, quantity: number) => ({
        userId,
        order: { answerIndex: 0, side: 'buy' as const, quantity },
      });
      const options = {
        deadline: deadlineIn(5000),
        announce: ({ market }: { market: { id: string } }) => ({
          type: 'trade.created' as const,
          marketId: market.id,
          payload: {},
        }),
      };
      const [onA, onB] = await Promise.all([
        // On a, the poor trader's buy is refused, and the one planned after it is not written.
        buysOnKnownBook(
          ledgerRepository,
          knownA,
          [buy(rich.id, 500), buy(poor.id, 10_000_000), buy(rich.id, 300)],
          options,
        ),
        buysOnKnownBook(ledgerRepository, knownB, [buy(poor.id, 700), buy(rich.id, 200)], options),
      ]);
      assert.equal(statements, 1, 'one statement for both markets');
      assert.deepEqual(
        onA.map((e) => e?.trade.amount),
        [500, undefined, undefined],
      );
      assert.deepEqual(
        onB.map((e) => e?.trade.amount),
        [700, 200],
      );
      assert.equal(onB[1]!.trade.probabilityBefore, onB[0]!.trade.probabilityAfter);
      assert.equal(await balanceOf(t, poor.id), 100_000 - 700);
      assert.equal(await balanceOf(t, rich.id), 100_000 - 700);
      const { rows } = await sql<{ n: number }>`
        select count(distinct xmin::text)::int as n from trades
        where user_id in (${rich.id}, ${poor.id})`.execute(t.database.db);
      assert.equal(rows[0]!.n, 1, 'one transaction');
    });

    test('a market whose row another session holds does not hold up the buys of other markets', {
      skip: kind === 'pglite' ? 'one session: no other holder' : false,
    }, async () => {
      const [held, free] = [await tradedMarket(), await tradedMarket()];
      const [first, second] = await Promise.all([t.user(), t.user()]);
      const other = new pg.Client({ connectionString: t.database.url });
      await other.connect();
      try {
        // A settlement, say, holds the market's row for a while.
        await other.query('begin');
        await other.query('select 1 from markets where id = $1 for no key update', [held.id]);
        let heldAnswered = false;
        const onHeld = trade(t, first, held.id, { outcome: 'YES', side: 'buy', amount: 2 }).finally(() => {
          heldAnswered = true;
        });
        await untilALockIsAwaited(other, 'the buy on the held market waits for its row');
        const onFree = await Promise.race([
          trade(t, second, free.id, { outcome: 'YES', side: 'buy', amount: 2 }),
          new Promise<never>((_, reject) =>
            setTimeout(() => reject(new Error('the buy on the free market waited for the held one')), 10_000),
          ),
        ]);
        assert.equal(onFree.statusCode, 201, onFree.body);
        assert.equal(heldAnswered, false, 'the held market still waits');
        await other.query('commit');
        assert.equal((await onHeld).statusCode, 201);
      } finally {
        await other.end();
      }
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test("a trader's row held by a session that then wants the market: the group writes the others, that buy trades under locks", {
      skip: kind === 'pglite' ? 'one session: no other holder' : false,
    }, async () => {
      const m = await tradedMarket();
      const users = await Promise.all(Array.from({ length: 3 }, () => t.user()));
      const other = new pg.Client({ connectionString: t.database.url });
      await other.connect();
      try {
        // Another session holds a trader's row, then wants the market: the group skips that buy,
        // which waits under locks holding the market, a lock cycle PostgreSQL breaks (retried).
        await other.query('begin');
        await other.query('select 1 from users where id = $1 for no key update', [users[1]!.id]);
        const answers = Promise.all(
          users.map((user) => trade(t, user, m.id, { outcome: 'YES', side: 'buy', amount: 2 })),
        );
        await untilALockIsAwaited(other, "the held trader's buy waits for its row");
        const closing = other.query('select 1 from markets where id = $1 for no key update', [m.id]).then(
          () => other.query('commit'),
          async (error: unknown) => {
            await other.query('rollback');
            throw error;
          },
        );
        const statuses = (await answers).map((res) => res.statusCode);
        await closing;
        assert.deepEqual(statuses, [201, 201, 201]);
      } finally {
        await other.end();
      }
      assert.equal((await tradeEvents(m.id)).length, 4);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('a group statement in a lock cycle over the append lock, which PostgreSQL breaks by failing it: its buys trade under locks', {
      skip: kind === 'pglite' ? 'one session: no other holder' : false,
    }, async () => {
      const m = await tradedMarket();
      const [buyer, ...later] = await Promise.all(Array.from({ length: 3 }, () => t.user()));
      const other = new pg.Client({ connectionString: t.database.url });
      await other.connect();
      try {
        // A trade under locks that fills limit orders: it has appended its event (the event log's
        // append lock, 019_record_trade.sql) and now pays the sellers among the orders' makers.
        await other.query('begin');
        await other.query('select pg_advisory_xact_lock(6001006)');
        const first = trade(t, buyer!, m.id, { outcome: 'YES', side: 'buy', amount: 2 });
        // The group's statement holds the market and the buyer, and waits for the append lock...
        await untilALockIsAwaited(other, "the group's statement waits for the append lock");
        // ...which this session holds while it wants the buyer's row (a seller): a cycle. The
        // statement waited first, so its deadlock check (deadlock_timeout, 1 s, after its wait
        // began, and only then) runs first and PostgreSQL fails it. This wait must begin well
        // within that second, so nothing else comes between: on a loaded machine, sending the
        // later buys first let the check find no cycle yet, and this session was failed instead.
        const paid = other.query('select 1 from users where id = $1 for no key update', [buyer!.id]).then(
          () => other.query('commit'),
          async (error: unknown) => {
            await other.query('rollback');
            throw error;
          },
        );
        const rest = Promise.all(
          later.map((u) => trade(t, u, m.id, { outcome: 'YES', side: 'buy', amount: 2 })),
        );
        const statuses = [await first, ...(await rest)].map((res) => res.statusCode);
        await paid; // the other session was not the one failed
        assert.deepEqual(statuses, [201, 201, 201]);
      } finally {
        await other.end();
      }
      assert.equal((await tradeEvents(m.id)).length, 4, 'the first trade and one event per buy');
      assert.equal((await ledger(t, admin)).difference, 0);
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
