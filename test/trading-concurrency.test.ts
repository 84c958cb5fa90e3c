import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { balanceOf, createMarket, ledger, type TestUser, trade } from './helpers/trading.ts';

for (const kind of databaseKinds()) {
  describe(`trading under concurrency and faults (${kind})`, () => {
    let t: TestApp;
    let admin: TestUser;

    before(async () => {
      // About correctness under contention, not deadlines: 200 trades queue on one market here,
      // which on a loaded machine takes longer than WRITE_DEADLINE_MS's default.
      t = await buildTestApp(kind, { WRITE_DEADLINE_MS: '120000' });
      admin = await t.user('admin');
    });
    after(() => t.close());

    test('20 users × 10 simultaneous trades on one market: no lost update, every unit accounted for', async () => {
      const m = await createMarket(t, admin, { liquidity: 200 });
      const users = await Promise.all(Array.from({ length: 20 }, () => t.user()));
      const results = await Promise.all(
        users.flatMap((u, i) =>
          Array.from({ length: 10 }, (_, j) =>
            trade(t, u, m.id, {
              outcome: (i + j) % 3 === 0 ? 'NO' : 'YES',
              side: 'buy',
              amount: 1 + ((i * 7 + j) % 5),
            }),
          ),
        ),
      );
      assert.deepEqual(new Set(results.map((r) => r.statusCode)), new Set([201]));

      const db = t.database.db;
      const trades = await db.selectFrom('trades').selectAll().where('marketId', '=', m.id).execute();
      assert.equal(trades.length, 200);
      const market = await db
        .selectFrom('markets')
        .selectAll()
        .where('id', '=', m.id)
        .executeTakeFirstOrThrow();
      assert.equal(
        market.volume,
        trades.reduce((s, x) => s + x.amount, 0),
      );
      const yes = trades.filter((x) => x.outcome === 'YES').reduce((s, x) => s + x.shares, 0);
      const no = trades.filter((x) => x.outcome === 'NO').reduce((s, x) => s + x.shares, 0);
      assert.deepEqual(market.shares, [yes, no]);
      for (const u of users) {
        const mine = trades.filter((x) => x.userId === u.id);
        assert.equal(await balanceOf(t, u.id), 100_000 - mine.reduce((s, x) => s + x.amount, 0));
        const positions = await db.selectFrom('positions').selectAll().where('userId', '=', u.id).execute();
        for (const p of positions) {
          assert.equal(
            p.shares,
            mine.filter((x) => x.outcome === p.outcome).reduce((s, x) => s + x.shares, 0),
          );
        }
      }
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('buys and sells interleaved by many users keep positions and escrow consistent', async () => {
      const m = await createMarket(t, admin);
      const users = await Promise.all(Array.from({ length: 8 }, () => t.user()));
      await Promise.all(users.map((u) => trade(t, u, m.id, { outcome: 'YES', side: 'buy', amount: 30 })));
      const results = await Promise.all(
        users.flatMap((u) => [
          trade(t, u, m.id, { outcome: 'YES', side: 'sell', amount: 2 }),
          trade(t, u, m.id, { outcome: 'NO', side: 'buy', amount: 3 }),
          trade(t, u, m.id, { outcome: 'YES', side: 'sell', amount: 1.25 }),
        ]),
      );
      assert.ok(results.every((r) => r.statusCode === 201));
      const escrow = (
        await t.database.db
          .selectFrom('markets')
          .select('escrow')
          .where('id', '=', m.id)
          .executeTakeFirstOrThrow()
      ).escrow;
      const net = await t.database.db
        .selectFrom('trades')
        .select(sql<string>`sum(case when side = 'buy' then amount else -amount end)`.as('net'))
        .where('marketId', '=', m.id)
        .executeTakeFirstOrThrow();
      assert.equal(escrow, Math.ceil(100 * Math.LN2 * 100) + Number(net.net));
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('two simultaneous resolves: exactly one succeeds and payouts happen once', async () => {
      const creator = await t.user();
      const winner = await t.user();
      const m = await createMarket(t, creator);
      const bought = (await trade(t, winner, m.id, { outcome: 'NO', side: 'buy', amount: 25 })).json().data;
      const before = await balanceOf(t, winner.id);
      const resolve = () =>
        t.request({
          method: 'POST',
          url: `/api/markets/${m.id}/resolve`,
          headers: admin.auth,
          payload: { outcome: 'NO' },
        });
      const statuses = (await Promise.all([resolve(), resolve(), resolve()])).map((r) => r.statusCode).sort();
      assert.deepEqual(statuses, [200, 409, 409]);
      assert.equal(await balanceOf(t, winner.id), before + Math.floor(bought.position.shares * 100));
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('a trade whose transaction fails half-way leaves balances, positions and volume untouched', async () => {
      const m = await createMarket(t, admin);
      const victim = await t.user();
      await trade(t, victim, m.id, { outcome: 'YES', side: 'buy', amount: 5 });
      const snapshot = async () => ({
        balance: await balanceOf(t, victim.id),
        market: await t.database.db
          .selectFrom('markets')
          .select(['volume', 'shares', 'escrow', 'probability'])
          .where('id', '=', m.id)
          .executeTakeFirstOrThrow(),
        positions: await t.database.db
          .selectFrom('positions')
          .select(['shares', 'costBasis'])
          .where('userId', '=', victim.id)
          .execute(),
        trades: (
          await t.database.db.selectFrom('trades').select('id').where('userId', '=', victim.id).execute()
        ).length,
      });
      const before = await snapshot();
      // The position write is the last step of a trade: make the database refuse it for this user.
      await sql
        .raw(`create function fail_position() returns trigger language plpgsql as $$
          begin raise exception 'disk on fire'; end; $$`)
        .execute(t.database.db);
      await sql
        .raw(`create trigger fail_position before update on positions for each row
          when (new.user_id = '${victim.id}') execute function fail_position()`)
        .execute(t.database.db);
      try {
        const res = await trade(t, victim, m.id, { outcome: 'YES', side: 'buy', amount: 7 });
        assert.equal(res.statusCode, 500);
        assert.equal(res.json().error, 'Internal server error');
        assert.ok(!res.body.includes('disk on fire'), 'no internals leak');
      } finally {
        await sql.raw('drop trigger fail_position on positions').execute(t.database.db);
        await sql.raw('drop function fail_position()').execute(t.database.db);
      }
      assert.deepEqual(await snapshot(), before);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('the same Idempotency-Key sent twice at once makes one trade', async () => {
      const m = await createMarket(t, admin);
      const u = await t.user();
      const body = { outcome: 'YES', side: 'buy', amount: 12 };
      const [a, b] = await Promise.all([
        trade(t, u, m.id, body, { 'idempotency-key': 'same-key' }),
        trade(t, u, m.id, body, { 'idempotency-key': 'same-key' }),
      ]);
      assert.equal(a.statusCode, 201, a.body);
      assert.equal(b.statusCode, 201, b.body);
      assert.equal(a.json().data.trade.id, b.json().data.trade.id);
      const count = await t.database.db
        .selectFrom('trades')
        .select('id')
        .where('userId', '=', u.id)
        .execute();
      assert.equal(count.length, 1);
      assert.equal(await balanceOf(t, u.id), 100_000 - 1200);
    });
  });
}
