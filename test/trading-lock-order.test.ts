import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { marketBody } from './helpers/factories.ts';
import { balanceOf, createMarket, ledger, type TestUser, trade } from './helpers/trading.ts';

const statuses = (responses: { statusCode: number }[]) => {
  const counts: Record<number, number> = {};
  for (const r of responses) counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
  return counts;
};

for (const kind of databaseKinds()) {
  describe(`one user's concurrent money writes never deadlock (${kind})`, () => {
    let t: TestApp;
    let admin: TestUser;

    before(async () => {
      t = await buildTestApp(kind);
      admin = await t.user('admin');
    });
    after(() => t.close());

    test('concurrent keyed trades by one user on different markets all succeed', async () => {
      const markets = await Promise.all(Array.from({ length: 8 }, () => createMarket(t, admin)));
      const trader = await t.user();
      // Rounds of 8 at once: each trade's key row takes a share lock on the trader's row
      // (foreign key) before the trade locks that row; a lock order that conflicts deadlocks.
      const responses = [];
      for (let round = 0; round < 3; round++) {
        responses.push(
          ...(await Promise.all(
            markets.map((m, i) =>
              trade(
                t,
                trader,
                m.id,
                { outcome: i % 2 ? 'NO' : 'YES', side: 'buy', amount: 2 },
                {
                  'idempotency-key': `round-${round}-market-${i}`,
                },
              ),
            ),
          )),
        );
      }
      assert.deepEqual(statuses(responses), { 201: 24 });
      assert.equal(await balanceOf(t, trader.id), 100_000 - 24 * 200);
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('parallel market creations by one user all succeed', async () => {
      const creator = await t.user();
      const responses = [];
      for (let round = 0; round < 2; round++) {
        responses.push(
          ...(await Promise.all(
            Array.from({ length: 6 }, () =>
              t.request({
                method: 'POST',
                url: '/api/markets',
                headers: creator.auth,
                payload: marketBody({ liquidity: 10, initialPosition: { outcome: 'YES', amount: 1 } }),
              }),
            ),
          )),
        );
      }
      assert.deepEqual(statuses(responses), { 201: 12 });
      assert.equal((await ledger(t, admin)).difference, 0);
    });

    test('a deadlock that persists past the retries answers 503 with Retry-After and changes nothing', async () => {
      const m = await createMarket(t, admin);
      const victim = await t.user();
      // The database reports a deadlock on every attempt of this user's trades: a sequence
      // (not rolled back with the transaction) counts the attempts.
      await sql.raw('create sequence deadlock_attempts').execute(t.database.db);
      await sql
        .raw(`create function fake_deadlock() returns trigger language plpgsql as $$
          begin perform nextval('deadlock_attempts'); raise exception 'deadlock detected' using errcode = '40P01'; end; $$`)
        .execute(t.database.db);
      await sql
        .raw(`create trigger fake_deadlock before insert on trades for each row
          when (new.user_id = '${victim.id}') execute function fake_deadlock()`)
        .execute(t.database.db);
      try {
        const res = await trade(t, victim, m.id, { outcome: 'YES', side: 'buy', amount: 5 });
        assert.equal(res.statusCode, 503, res.body);
        assert.equal(res.json().success, false);
        assert.equal(res.json().code, 'SERVICE_UNAVAILABLE');
        assert.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After tells when to come back');
        const { rows } = await sql<{
          n: string;
        }>`select last_value::text as n from deadlock_attempts`.execute(t.database.db);
        const attempts = Number(rows[0]!.n);
        assert.ok(attempts > 1 && attempts <= 10, `retried a bounded number of times (${attempts})`);
        const lines = t.logs.filter((l) => l.requestId === res.headers['x-request-id']);
        assert.deepEqual(
          lines.map((l) => l.level),
          [40, 40],
          'the cause and the request line are warnings: an outage must not flood the error log',
        );
      } finally {
        await sql.raw('drop trigger fake_deadlock on trades').execute(t.database.db);
        await sql.raw('drop function fake_deadlock()').execute(t.database.db);
        await sql.raw('drop sequence deadlock_attempts').execute(t.database.db);
      }
      assert.equal(await balanceOf(t, victim.id), 100_000);
      assert.equal((await ledger(t, admin)).difference, 0);
    });
  });
}
