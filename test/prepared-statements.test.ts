import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { seedSampleData } from '../scripts/lib/seed-database.ts';
import { openDatabase } from '../src/db/database.ts';
import { compiledOnce } from '../src/db/prepared-statements.ts';
import { inTransaction } from '../src/db/transaction.ts';
import { deadlineIn } from '../src/lib/deadline.ts';
import { createMarketRepository } from '../src/modules/markets/markets.repository.ts';
import { createLedgerRepository } from '../src/modules/trading/ledger.repository.ts';
import { createTradingService } from '../src/modules/trading/trading.service.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from './helpers/databases.ts';

/** The statement that sets a transaction's statement_timeout (transaction.ts). */
const isTimeoutSet = (text: string) => text.includes("set_config('statement_timeout'");

for (const kind of databaseKinds()) {
  describe(`market lookups by id and slug (${kind})`, () => {
    let t: TestDatabase;
    before(async () => {
      t = await createTestDatabase(kind);
      await seedSampleData(t.database.db, { markets: 3, users: 2, seed: 1 });
    });
    after(() => t.cleanup());

    test('a market read by id or slug is the whole row, in a transaction or not', async () => {
      const markets = createMarketRepository(t.database.db);
      const expected = await t.database.db.selectFrom('markets').selectAll().orderBy('id').execute();
      // The row and its answers (a binary market's: YES, NO), read with it.
      const withAnswers = async (row: (typeof expected)[number]) => ({
        ...row,
        answers: await t.database.db
          .selectFrom('marketAnswers')
          .select(['id', 'text'])
          .where('marketId', '=', row.id)
          .orderBy('index')
          .execute(),
      });
      for (const plain of expected) {
        const row = await withAnswers(plain);
        assert.ok(row.answers.length >= 2);
        assert.deepEqual(await markets.findById(row.id), row);
        assert.deepEqual(await markets.findBySlug(row.slug), row);
        await inTransaction(t.database.db, async (trx) => {
          assert.deepEqual(await markets.findById(row.id, trx), row);
          assert.deepEqual(await markets.findBySlug(row.slug, trx), row);
        });
      }
      assert.equal(await markets.findById('00000000-0000-4000-8000-000000000000'), undefined);
      assert.equal(await markets.findBySlug('no-such-market'), undefined);
    });

    test('a statement compiled once refuses, at its first call, a key that is not one of its parameters', () => {
      const { db } = t.database;
      // Its SQL would be the same for every key: each call would read the first key's row.
      const inlined = compiledOnce((id: string) =>
        db.selectFrom('markets').select('id').where('id', '=', sql.lit(id)),
      );
      assert.throws(() => inlined('00000000-0000-4000-8000-000000000000'), /a key is not a parameter/);
      const bound = compiledOnce((id: string) => db.selectFrom('markets').select('id').where('id', '=', id));
      assert.deepEqual([bound('a').parameters, bound('b').parameters], [['a'], ['b']]);
    });
  });
}

describe('prepared lookups on PostgreSQL', {
  skip: process.env.TEST_DATABASE_URL ? false : 'set TEST_DATABASE_URL to a PostgreSQL server',
}, () => {
  let t: TestDatabase;
  let id: string;
  before(async () => {
    t = await createTestDatabase('postgres');
    await seedSampleData(t.database.db, { markets: 2, users: 2, seed: 1 });
    id = (await t.database.db.selectFrom('markets').select('id').executeTakeFirstOrThrow()).id;
  });
  after(() => t.cleanup());

  /** One connection, so what the reads prepared is what this session's pg_prepared_statements shows. */
  async function preparedAfterReads(preparedStatements: boolean) {
    const database = await openDatabase({ url: t.url!, poolSize: 1, preparedStatements });
    try {
      const markets = createMarketRepository(database.db);
      const { slug } = (await markets.findById(id))!;
      await markets.findById(id);
      await markets.findBySlug(slug);
      const { rows } = await sql<{ name: string }>`
        select name from pg_prepared_statements order by name`.execute(database.db);
      return rows.map((r) => r.name);
    } finally {
      await database.close();
    }
  }

  test('reads by id and slug are parsed once per connection, as named prepared statements', async () => {
    assert.deepEqual(await preparedAfterReads(true), ['markets_by_id', 'markets_by_slug']);
  });

  test('with preparedStatements off (a pooler in transaction mode) nothing is prepared', async () => {
    assert.deepEqual(await preparedAfterReads(false), []);
  });

  test('a connection that prepared the lookups still reads after a migration adds a column to markets', async () => {
    const database = await openDatabase({ url: t.url!, poolSize: 1 });
    try {
      const markets = createMarketRepository(database.db);
      const before = await markets.findById(id);
      await markets.findBySlug(before!.slug);
      await sql`alter table markets add column added_by_a_later_release integer`.execute(t.database.db);
      try {
        assert.deepEqual(await markets.findById(id), before);
        assert.equal((await markets.findBySlug(before!.slug))?.id, id);
      } finally {
        await sql`alter table markets drop column added_by_a_later_release`.execute(t.database.db);
      }
    } finally {
      await database.close();
    }
  });

  test("a trade's statements are prepared by their text, and still run after a migration adds columns to the tables they read", async () => {
    const ran: string[] = [];
    const database = await openDatabase({ url: t.url!, poolSize: 1, onQuery: (text) => ran.push(text) });
    // A statement slower than 50 ms (a loaded machine) re-arms statement_timeout for the next
    // (transaction.ts): that one is not the trade's. (The first arm rides on BEGIN: tested below.)
    const tradeStatements = (from: number) => ran.slice(from).filter((text) => !isTimeoutSet(text)).length;
    const added = ['markets', 'trades', 'positions', 'users'];
    try {
      const { db } = database;
      const trading = createTradingService({
        db,
        ledger: createLedgerRepository(db),
        markets: createMarketRepository(db),
        deadlineMs: 10_000,
      });
      const trader = await db
        .selectFrom('users')
        .select(['id', 'email', 'role'])
        .where('balance', '>', 10_000)
        .executeTakeFirstOrThrow();
      const buy = () => trading.trade(trader, id, { outcome: 'YES', side: 'buy', quantity: 100 });
      const sell = (shares: number) =>
        trading.trade(trader, id, { outcome: 'YES', side: 'sell', quantity: shares });
      let before = ran.length;
      await buy();
      // BEGIN with its timeout, the locks, the write with its event, COMMIT (the README's four).
      assert.equal(tradeStatements(before), 4);
      before = ran.length;
      const first = await buy();
      // The next buy is planned on the row the first left: one autocommitted statement.
      assert.equal(tradeStatements(before), 1);
      await sell(Math.floor((first.body.position.shares * 1e6) / 2));
      const { rows } = await sql<{ statement: string }>`
        select statement from pg_prepared_statements where name like 'every\_%'`.execute(db);
      const statements = rows.map((r) => r.statement);
      // The locks, and the write of the line, book, balance, position and event (record_trade).
      for (const name of ['markets', 'users', 'record_trade'])
        assert.ok(
          statements.some((s) => new RegExp(`\\b${name}\\b`).test(s)),
          `no prepared statement names ${name}: ${statements.join(' | ')}`,
        );

      for (const table of added)
        await sql`alter table ${sql.table(table)} add column added_by_a_later_release integer`.execute(
          t.database.db,
        );
      // On the same connection, whose statements were prepared before the columns existed.
      const again = await buy();
      assert.equal(again.replayed, false);
      const sold = await sell(Math.floor((again.body.position.shares * 1e6) / 2));
      assert.ok(sold.body.position.shares > 0);
    } finally {
      for (const table of added)
        await sql`alter table ${sql.table(table)} drop column if exists added_by_a_later_release`.execute(
          t.database.db,
        );
      await database.close();
    }
  });

  test('a transaction with a deadline starts with its statement_timeout, sent with its BEGIN', async () => {
    const ran: string[] = [];
    const database = await openDatabase({ url: t.url!, poolSize: 1, onQuery: (text) => ran.push(text) });
    try {
      const { statementTimeout } = await inTransaction(
        database.db,
        async (trx) =>
          (await sql<{ statementTimeout: string }>`show statement_timeout`.execute(trx)).rows[0]!,
        { deadline: deadlineIn(3000) },
      );
      // What is left of 3 s: PostgreSQL shows it in ms, or in s when it is whole seconds.
      const ms = statementTimeout.endsWith('ms')
        ? Number(statementTimeout.slice(0, -2))
        : Number(statementTimeout.slice(0, -1)) * 1000;
      assert.ok(ms > 2000 && ms <= 3000, statementTimeout);
      // BEGIN (with the timeout), the SHOW, COMMIT: no statement of its own for the timeout, only
      // the re-arm after a SHOW slower than 50 ms (a loaded machine).
      const [begin, show, ...rest] = ran;
      assert.match(begin!, /^begin/i);
      assert.match(show!, /^show statement_timeout/);
      assert.match(rest.pop()!, /^commit/i);
      assert.ok(rest.every(isTimeoutSet), rest.join(' | '));
    } finally {
      await database.close();
    }
  });
});
