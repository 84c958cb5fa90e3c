import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { eventually } from './helpers/eventually.ts';
import { locksAwaited, untilALockIsAwaited } from './helpers/lock-waits.ts';
import { createMarket, type TestUser } from './helpers/trading.ts';

/**
 * An edit reads the market, checks its rules, then writes only if the row is still at the version
 * it read. A change that commits in between (a trade, another edit through any instance) must not
 * turn an edit that named no version into a 412: only If-Match asks for one. PostgreSQL only: the
 * race is staged with a second session holding the row while it commits its own change.
 */
describe('an edit that races a concurrent change (postgres)', {
  skip: !databaseKinds().includes('postgres') && 'needs TEST_DATABASE_URL',
}, () => {
  let t: TestApp;
  let alice: TestUser;

  before(async () => {
    t = await buildTestApp('postgres');
    alice = await t.user('user');
  });
  after(() => t?.close());

  /** Sends `edit` while another session holds the row, then commits a description change under it. */
  async function racing(marketId: string, headers: Record<string, string>) {
    const other = new pg.Client({ connectionString: t.database.url });
    await other.connect();
    try {
      await other.query('begin');
      await other.query('select 1 from markets where id = $1 for no key update', [marketId]);
      const answer = t.request({
        method: 'PATCH',
        url: `/api/markets/${marketId}`,
        headers: { ...alice.auth, ...headers },
        payload: { name: 'Renamed while it traded' },
      });
      // The edit has read version 1 and now waits for the row.
      await untilALockIsAwaited(other, "the edit's update waits for the row");
      await other.query(
        `update markets set description = 'Changed elsewhere', version = version + 1 where id = $1`,
        [marketId],
      );
      await other.query('commit');
      return await answer;
    } finally {
      await other.end();
    }
  }

  test('without If-Match the edit applies to the row as changed, losing neither change', async () => {
    const market = await createMarket(t, alice);
    const res = await racing(market.id, {});
    assert.equal(res.statusCode, 200, res.body);
    const edited = res.json().data;
    assert.equal(edited.name, 'Renamed while it traded');
    assert.equal(edited.description, 'Changed elsewhere', 'the concurrent change is kept');
    assert.equal(edited.version, market.version + 2);
    assert.equal(res.headers.etag, `"${market.version + 2}"`);
  });

  test('a row that changes under every attempt: after five the edit answers 409 EDIT_CONFLICT and changes nothing', async () => {
    const market = await createMarket(t, alice);
    const sessions: pg.Client[] = [];
    /** A session of its own, in a transaction. */
    const session = async () => {
      const client = new pg.Client({ connectionString: t.database.url });
      await client.connect();
      sessions.push(client);
      await client.query('begin');
      return client;
    };
    const lock = (client: pg.Client) =>
      client.query('select 1 from markets where id = $1 for no key update', [market.id]);
    // Who waits for the row, seen from a session of its own.
    const watcher = new pg.Client({ connectionString: t.database.url });
    await watcher.connect();
    try {
      let holder = await session();
      await lock(holder);
      let answered = false;
      const answer = t
        .request({
          method: 'PATCH',
          url: `/api/markets/${market.id}`,
          headers: alice.auth,
          payload: { name: 'Renamed under a storm of changes' },
        })
        .finally(() => {
          answered = true;
        });
      await untilALockIsAwaited(watcher, "the edit's first update waits for the row");
      // Each round the next session queues for the row behind the edit, then the holder changes the
      // row and commits: the edit's update finds another version and tries again, behind the next.
      for (let round = 1; !answered; round++) {
        assert.ok(round <= 20, 'the edit gives up after its attempts');
        const next = await session();
        const locked = lock(next);
        await eventually(
          async () => answered || (await locksAwaited(watcher)) >= 2,
          5000,
          'the next session queues',
        );
        await holder.query('update markets set version = version + 1 where id = $1', [market.id]);
        await holder.query('commit');
        await locked;
        holder = next;
        await eventually(
          async () => answered || (await locksAwaited(watcher)) >= 1,
          5000,
          'the edit tries again',
        );
      }
      await holder.query('commit');
      const res = await answer;
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json().success, false);
      assert.equal(res.json().code, 'EDIT_CONFLICT');
      const { rows } = await watcher.query('select name from markets where id = $1', [market.id]);
      assert.equal(rows[0].name, market.name, 'the edit wrote nothing');
    } finally {
      await Promise.all([watcher, ...sessions].map((client) => client.end()));
    }
  });

  test('with the If-Match it read, the same race is a 412 and the edit changes nothing', async () => {
    const market = await createMarket(t, alice);
    const res = await racing(market.id, { 'if-match': `"${market.version}"` });
    assert.equal(res.statusCode, 412, res.body);
    assert.equal(res.json().code, 'PRECONDITION_FAILED');
    // From the table: the second session's raw write went past this instance's cache.
    const client = new pg.Client({ connectionString: t.database.url });
    await client.connect();
    try {
      const { rows } = await client.query('select name, description from markets where id = $1', [market.id]);
      assert.deepEqual(rows[0], { name: market.name, description: 'Changed elsewhere' });
    } finally {
      await client.end();
    }
  });
});
