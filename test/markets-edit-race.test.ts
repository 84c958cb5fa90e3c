import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { untilALockIsAwaited } from './helpers/lock-waits.ts';
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
