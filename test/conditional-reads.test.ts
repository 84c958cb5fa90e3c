import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { createMarket, type TestUser, trade } from './helpers/trading.ts';

const REVALIDATE = 'public, max-age=0, must-revalidate';

/** Issue 13 item 5: list pages and comments answer If-None-Match; Cache-Control is honest. */
for (const kind of databaseKinds()) {
  describe(`conditional reads and Cache-Control (${kind})`, () => {
    let t: TestApp;
    let alice: TestUser;
    let bob: TestUser;

    before(async () => {
      t = await buildTestApp(kind, { MARKET_CLOSE_INTERVAL_MS: '200' });
      alice = await t.user();
      bob = await t.user();
    });
    after(() => t?.close());

    const get = (url: string, headers: Record<string, string> = {}) =>
      t.request({ method: 'GET', url, headers });

    /** 200 with an ETag, then 304 (no body, same ETag, same Cache-Control) for it in every spelling. */
    async function assertRevalidates(url: string) {
      const first = await get(url);
      assert.equal(first.statusCode, 200, first.body);
      const etag = first.headers.etag as string;
      assert.match(etag, /^"[^"]+"$/, `${url} has an ETag`);
      assert.equal(first.headers['cache-control'], REVALIDATE, url);
      for (const held of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
        const res = await get(url, { 'if-none-match': held });
        assert.equal(res.statusCode, 304, `${url} with ${held}`);
        assert.equal(res.body, '');
        assert.equal(res.headers.etag, etag);
        assert.equal(res.headers['cache-control'], REVALIDATE);
      }
      const other = await get(url, { 'if-none-match': '"something else"' });
      assert.equal(other.statusCode, 200);
      assert.equal(other.body, first.body);
      return etag;
    }

    test('a list page answers If-None-Match with 304 until a trade changes it', async () => {
      const m = await createMarket(t, alice);
      const url = '/api/markets?status=active&sort=volume&order=desc&limit=5';
      const etag = await assertRevalidates(url);
      assert.equal((await trade(t, bob, m.id, { outcome: 'YES', side: 'buy', amount: 10 })).statusCode, 201);
      const after = await get(url, { 'if-none-match': etag });
      assert.equal(after.statusCode, 200, 'the old copy is not confirmed');
      assert.notEqual(after.headers.etag, etag);
      assert.ok(after.json().data.some((r: { id: string; volume: number }) => r.id === m.id && r.volume > 0));
      await assertRevalidates(url);
    });

    test('cursor pages, column selection and include=creator pages revalidate too', async () => {
      for (let i = 0; i < 3; i++) await createMarket(t, alice);
      const first = (await get('/api/markets?sort=createdAt&limit=2')).json();
      await assertRevalidates(`/api/markets?sort=createdAt&limit=2&cursor=${first.meta.nextCursor}`);
      await assertRevalidates('/api/markets?fields=id,name&limit=3');
      await assertRevalidates('/api/markets?include=creator&limit=3');
      const a = (await get('/api/markets?fields=id,name&limit=3')).headers.etag;
      const b = (await get('/api/markets?fields=id,volume&limit=3')).headers.etag;
      assert.notEqual(a, b, 'another shape of the same rows is another representation');
    });

    test('a page whose market closed by time is sent anew with its new status', async () => {
      const m = await createMarket(t, alice, { closesAt: new Date(Date.now() + 1500).toISOString() });
      const url = `/api/markets?creatorId=${alice.id}&fields=id,status&limit=100`;
      const first = await get(url);
      const etag = first.headers.etag as string;
      assert.equal(first.json().data.find((r: { id: string }) => r.id === m.id).status, 'active');
      await sleep(2000);
      const res = await get(url, { 'if-none-match': etag });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().data.find((r: { id: string }) => r.id === m.id).status, 'closed');
    });

    test('a market by id: Cache-Control on 200 and 304', async () => {
      const m = await createMarket(t, alice);
      await assertRevalidates(`/api/markets/${m.id}`);
    });

    test("a market's comments revalidate until a comment is written or deleted", async () => {
      const m = await createMarket(t, alice);
      const post = (text: string) =>
        t.request({
          method: 'POST',
          url: `/api/markets/${m.id}/comments`,
          headers: alice.auth,
          payload: { text },
        });
      const first = (await post('first')).json().data;
      const url = `/api/markets/${m.id}/comments`;
      let etag = await assertRevalidates(url);
      assert.equal((await post('second')).statusCode, 201);
      let res = await get(url, { 'if-none-match': etag });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().data.length, 2);
      etag = await assertRevalidates(url);
      const del = await t.request({
        method: 'DELETE',
        url: `/api/markets/${m.id}/comments/${first.id}`,
        headers: alice.auth,
      });
      assert.equal(del.statusCode, 200);
      assert.equal(del.headers['cache-control'], 'no-store', 'a write is never stored');
      res = await get(url, { 'if-none-match': etag });
      assert.equal(res.statusCode, 200, 'a tombstone changes the page');
      await assertRevalidates(`${url}?order=oldest`);
    });

    test('personal reads and refusals are no-store', async () => {
      const m = await createMarket(t, alice);
      assert.equal((await trade(t, alice, m.id, { outcome: 'NO', side: 'buy', amount: 5 })).statusCode, 201);
      for (const url of ['/api/me', '/api/me/trades', '/api/me/positions', '/api/me/api-keys']) {
        const res = await get(url, alice.auth);
        assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
        assert.equal(res.headers['cache-control'], 'no-store', url);
        assert.equal((await get(url)).headers['cache-control'], 'no-store', `${url} refused (401)`);
      }
      for (const url of [`/api/markets/${crypto.randomUUID()}`, '/api/markets?limit=1000']) {
        const res = await get(url);
        assert.ok(res.statusCode >= 400);
        assert.equal(res.headers['cache-control'], 'no-store', `${url} (${res.statusCode})`);
      }
    });
  });
}
