import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { toApiError } from '../src/plugins/error-handler.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { marketBody } from './helpers/factories.ts';
import { createMarket, ledger, type TestUser, trade } from './helpers/trading.ts';

/** A keyset cursor as the service encodes it, with any parts. */
const cursor = (...parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');

type Response = Awaited<ReturnType<TestApp['request']>>;

/** A 400 in the envelope: what every input the database would refuse must get. */
function assertBadRequest(res: Response, what: string) {
  assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
  const body = res.json();
  assert.equal(body.success, false, what);
  assert.equal(typeof body.error, 'string', what);
  assert.equal(typeof body.code, 'string', what);
  assert.equal(body.requestId, res.headers['x-request-id'], what);
  return body;
}

const HYPHENS = '-'.repeat(36);
const NOT_A_UUID = 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz';
const A_UUID = '0b8f4f5e-9d55-4d8a-9a53-5c0b6e1f6a01';

for (const kind of databaseKinds()) {
  describe(`input the database would refuse is a 400, never a 500 (${kind})`, () => {
    let t: TestApp;
    let alice: TestUser;
    let admin: TestUser;
    let market: { id: string };

    before(async () => {
      t = await buildTestApp(kind);
      alice = await t.user('user', 'Alice');
      admin = await t.user('admin', 'Admin');
      market = await createMarket(t, alice);
      const buy = await trade(t, alice, market.id, { outcome: 'YES', side: 'buy', amount: 5 });
      assert.equal(buy.statusCode, 201, buy.body);
    });
    after(() => t.close());

    test('a cursor whose id is not a UUID (36 hyphens, or letters past f) is a 400', async () => {
      const now = new Date().toISOString();
      const pages = [
        ['/api/markets', cursor('createdAt', 'desc', now, HYPHENS)],
        ['/api/markets?sort=volume', cursor('volume', 'desc', 10, HYPHENS)],
        ['/api/markets?sort=name&order=asc', cursor('name', 'asc', 'a', NOT_A_UUID)],
        [`/api/markets/${market.id}/trades`, cursor('createdAt', 'desc', now, HYPHENS)],
        ['/api/me/trades', cursor('createdAt', 'desc', now, HYPHENS)],
      ] as const;
      for (const [url, c] of pages) {
        const res = await t.request({
          method: 'GET',
          url: `${url}${url.includes('?') ? '&' : '?'}cursor=${c}`,
          headers: alice.auth,
        });
        assert.equal(assertBadRequest(res, url).error, 'Invalid cursor');
      }
    });

    test('a cursor whose value the column cannot hold (a date past year 9999, a volume past bigint) is a 400', async () => {
      const cases = [
        ['/api/markets', cursor('createdAt', 'desc', '+275760-09-13T00:00:00.000Z', A_UUID)],
        ['/api/markets', cursor('createdAt', 'desc', '0000-01-01T00:00:00.000Z', A_UUID)],
        ['/api/markets?sort=closesAt', cursor('closesAt', 'desc', '-271821-04-20T00:00:00.000Z', A_UUID)],
        ['/api/markets?sort=volume', cursor('volume', 'desc', -1, A_UUID)],
        ['/api/markets?sort=name', cursor('name', 'desc', 'a\u0000b', A_UUID)],
        [`/api/markets/${market.id}/trades`, cursor('createdAt', 'desc', '275760-01-01', A_UUID)],
        ['/api/me/trades', cursor('createdAt', 'desc', '+100000-01-01T00:00:00.000Z', A_UUID)],
      ] as const;
      for (const [url, c] of cases) {
        const res = await t.request({
          method: 'GET',
          url: `${url}${url.includes('?') ? '&' : '?'}cursor=${c}`,
          headers: alice.auth,
        });
        assertBadRequest(res, `${url} ${Buffer.from(c, 'base64url')}`);
      }
    });

    test('a cursor the service gave out still pages on (the baseline for the refusals above)', async () => {
      await createMarket(t, alice);
      const first = await t.request({ method: 'GET', url: '/api/markets?limit=1' });
      const next = first.json().meta.nextCursor;
      assert.ok(next);
      const second = await t.request({ method: 'GET', url: `/api/markets?limit=1&cursor=${next}` });
      assert.equal(second.statusCode, 200, second.body);
      assert.notEqual(second.json().data[0].id, first.json().data[0].id);
    });

    test('a close time past the horizon (a century away, year 9999) or in extended-year form is a 400', async () => {
      for (const closesAt of [
        '+275760-09-13T00:00:00.000Z',
        '+100000-01-01T00:00:00Z',
        '9999-12-31T23:59:59Z',
        new Date(Date.now() + 101 * 365 * 86_400_000).toISOString(),
      ]) {
        const create = await t.request({
          method: 'POST',
          url: '/api/markets',
          headers: alice.auth,
          payload: marketBody({ closesAt }),
        });
        assertBadRequest(create, `create ${closesAt}`);
        const patch = await t.request({
          method: 'PATCH',
          url: `/api/markets/${market.id}`,
          headers: alice.auth,
          payload: { closesAt },
        });
        assertBadRequest(patch, `patch ${closesAt}`);
      }
    });

    test('amounts smaller than the smallest unit are a 400 that says the minimum, and change nothing', async () => {
      const before = await ledger(t, admin);
      for (const amount of [1e-13, 5e-324]) {
        const sell = await trade(t, alice, market.id, { outcome: 'YES', side: 'sell', amount });
        assert.match(assertBadRequest(sell, `sell ${amount}`).details[0].message, /at least 0\.000001/);
        const buy = await trade(t, alice, market.id, { outcome: 'YES', side: 'buy', amount });
        assert.match(assertBadRequest(buy, `buy ${amount}`).details[0].message, /at least 0\.01/);
      }
      for (const body of [
        { liquidity: 1e-9 },
        { liquidity: 5e-324 },
        { initialPosition: { outcome: 'YES', amount: 1e-13 } },
      ]) {
        const res = await t.request({
          method: 'POST',
          url: '/api/markets',
          headers: alice.auth,
          payload: marketBody(body),
        });
        assert.match(assertBadRequest(res, JSON.stringify(body)).details[0].message, /at least 0\.01/);
      }
      assert.deepEqual(await ledger(t, admin), before);
    });

    test('the smallest units themselves still trade (0.01 to buy, 0.000001 shares to sell)', async () => {
      const buy = await trade(t, alice, market.id, { outcome: 'NO', side: 'buy', amount: 0.01 });
      assert.equal(buy.statusCode, 201, buy.body);
      const sell = await trade(t, alice, market.id, { outcome: 'NO', side: 'sell', amount: 0.000001 });
      assert.equal(sell.statusCode, 201, sell.body);
      assert.equal(sell.json().data.trade.shares, 0.000001);
    });

    test('what the database still refuses as data is a 400: SQLSTATE class 22, and check violations on client-written columns', async () => {
      // Real errors from the real database, as a repository would meet them past validation.
      const refusal = async (query: ReturnType<typeof sql>) => {
        try {
          await query.execute(t.database.db);
        } catch (error) {
          return error as Error;
        }
        assert.fail(`the database accepted ${query.compile(t.database.db).sql}`);
      };
      const asData = [
        await refusal(sql`select ${HYPHENS}::uuid`),
        await refusal(sql`select ${'+275760-09-13T00:00:00Z'}::timestamptz`),
        await refusal(sql`select ${'99999999999999999999'}::bigint`),
        await refusal(sql`update markets set liquidity = 0 where id = ${market.id}`),
        await refusal(sql`update markets set name = 'ab' where id = ${market.id}`),
      ];
      for (const error of asData) {
        const apiError = toApiError(error);
        assert.equal(apiError?.statusCode, 400, error.message);
        assert.equal(apiError?.code, 'BAD_REQUEST');
        assert.doesNotMatch(apiError.message, /markets|liquidity|uuid|bigint/, 'no internals leak');
      }
      // A money invariant is never the client's fault: that stays a 500, logged as an error.
      const bug = await refusal(sql`update users set balance = -1 where id = ${alice.id}`);
      assert.equal(toApiError(bug), undefined);
    });
  });
}
