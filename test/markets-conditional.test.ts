import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { createMarket, type TestUser, trade } from './helpers/trading.ts';

for (const kind of databaseKinds()) {
  describe(`conditional market reads (${kind})`, () => {
    let t: TestApp;
    let admin: TestUser;
    let alice: TestUser;

    before(async () => {
      t = await buildTestApp(kind);
      admin = await t.user('admin');
      alice = await t.user();
    });
    after(() => t.close());

    const get = (key: string, ifNoneMatch?: string) =>
      t.request({
        method: 'GET',
        url: `/api/markets/${key}`,
        headers: ifNoneMatch === undefined ? {} : { 'if-none-match': ifNoneMatch },
      });

    test('If-None-Match with the current ETag is a 304 without a body, by id and by slug', async () => {
      const m = await createMarket(t, admin, { slug: 'conditional-read' });
      const first = await get(m.id);
      assert.equal(first.statusCode, 200);
      const etag = first.headers.etag as string;
      for (const [key, header] of [
        [m.id, etag],
        ['conditional-read', etag],
        [m.id, `W/${etag}`],
        [m.id, `"999", ${etag}`],
        [m.id, '*'],
      ] as const) {
        const res = await get(key, header);
        assert.equal(res.statusCode, 304, `${key} ${header}`);
        assert.equal(res.body, '');
        assert.equal(res.headers.etag, etag);
      }
      const other = await get(m.id, '"999"');
      assert.equal(other.statusCode, 200);
      assert.equal(other.json().data.id, m.id);
    });

    test('after a trade the old ETag gets the new market in full, and the new ETag a 304', async () => {
      const m = await createMarket(t, admin);
      const old = (await get(m.id)).headers.etag as string;
      assert.equal(
        (await trade(t, alice, m.id, { outcome: 'YES', side: 'buy', amount: 10 })).statusCode,
        201,
      );
      const res = await get(m.id, old);
      assert.equal(res.statusCode, 200);
      assert.ok(res.json().data.probability > 0.5);
      assert.notEqual(res.headers.etag, old);
      assert.equal((await get(m.id, res.headers.etag as string)).statusCode, 304);
    });

    test('a copy from before the close time is never confirmed: a market closed by time is sent whole', async () => {
      const m = await createMarket(t, admin);
      const closesAt = Date.now() + 1500;
      await t.database.db
        .updateTable('markets')
        .set({ closesAt: new Date(closesAt) })
        .where('id', '=', m.id)
        .execute();
      const before = await get(m.id);
      assert.equal(before.json().data.status, 'active');
      // The close time passes: the row's version stays, the market now shows closed.
      await sleep(Math.max(0, closesAt - Date.now()) + 100);
      const res = await get(m.id, before.headers.etag as string);
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().data.status, 'closed');
    });
  });
}
