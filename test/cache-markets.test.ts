import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Config } from '../src/config/env.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { backgroundQuiet, eventually } from './helpers/eventually.ts';
import { marketBody } from './helpers/factories.ts';
import { deleteKeys, skipWithoutRedis, TEST_REDIS_URL, uniqueKeyPrefix } from './helpers/redis.ts';

const backends: { name: string; env: () => Partial<Record<keyof Config, string>>; skip: false | string }[] = [
  { name: 'memory cache', env: () => ({}), skip: false },
  {
    name: 'redis cache',
    env: () => ({
      REDIS_URL: TEST_REDIS_URL ?? '',
      REDIS_KEY_PREFIX: uniqueKeyPrefix(),
      // The event-log follower's polls would count as database queries of "still from the cache".
      CACHE_FOLLOW_INTERVAL_MS: '60000',
    }),
    skip: skipWithoutRedis,
  },
];

for (const kind of databaseKinds()) {
  for (const backend of backends) {
    describe(`market cache over HTTP (${kind}, ${backend.name})`, { skip: backend.skip }, () => {
      let t: TestApp;
      let alice: Awaited<ReturnType<TestApp['user']>>;

      before(async () => {
        t = await buildTestApp(kind, { RATE_LIMIT_PER_MINUTE: '0', ...backend.env() });
        alice = await t.user('user', 'Alice');
      });
      after(async () => {
        await t.close();
        if (t.config.REDIS_URL) await deleteKeys(t.config.REDIS_URL, t.config.REDIS_KEY_PREFIX);
      });

      const get = (path: string) => t.request({ method: 'GET', url: path });
      const create = async (overrides: Record<string, unknown> = {}) =>
        (
          await t.request({
            method: 'POST',
            url: '/api/markets',
            headers: alice.auth,
            payload: marketBody(overrides),
          })
        ).json().data;
      /** Queries the database ran while `fn` ran. */
      const queriesDuring = async (fn: () => Promise<unknown>) => {
        // A Redis-backed instance reads past its cache until its follower has applied the event
        // log (after it starts, and after any lost connection: a slow CI machine has both), and
        // says so in /readyz: count only once it trusts its cache.
        await eventually(
          async () => (await get('/readyz')).json().checks.cache === 'ok',
          15_000,
          'the instance trusts its cache',
        );
        // A write wakes the streams' reader of the event log on PostgreSQL (its NOTIFY arrives
        // a moment after the commit): let that background read finish before counting.
        await backgroundQuiet(t.database.stats);
        const before = t.database.stats.queries;
        await fn();
        return t.database.stats.queries - before;
      };

      test('a market read again is answered from the cache, by id and by slug', async () => {
        const market = await create({ slug: `cached-${Date.now()}` });
        assert.equal(await queriesDuring(() => get(`/api/markets/${market.id}`)), 1);
        assert.equal(await queriesDuring(() => get(`/api/markets/${market.id}`)), 0);
        await get(`/api/markets/${market.slug}`);
        const again = await queriesDuring(async () => {
          const res = await get(`/api/markets/${market.slug}`);
          assert.equal(res.json().data.id, market.id);
          assert.equal(res.headers.etag, '"1"');
        });
        assert.equal(again, 0);
      });

      test('PATCH, PUT and DELETE are visible to the very next read, by id, by slug and in lists', async () => {
        const market = await create({ slug: `edit-me-${Date.now()}` });
        const warm = async () => {
          await get(`/api/markets/${market.id}`);
          await get(`/api/markets/${market.slug}`);
          await get('/api/markets?limit=100');
        };
        const inList = async (id: string) =>
          (await get('/api/markets?limit=100')).json().data.find((m: { id: string }) => m.id === id);

        await warm();
        let res = await t.request({
          method: 'PATCH',
          url: `/api/markets/${market.id}`,
          headers: alice.auth,
          payload: { name: 'Renamed by PATCH' },
        });
        assert.equal(res.statusCode, 200);
        assert.equal((await get(`/api/markets/${market.id}`)).json().data.name, 'Renamed by PATCH');
        assert.equal((await get(`/api/markets/${market.slug}`)).json().data.name, 'Renamed by PATCH');
        assert.equal((await get(`/api/markets/${market.id}`)).headers.etag, '"2"');
        assert.equal((await inList(market.id)).name, 'Renamed by PATCH');

        await warm();
        res = await t.request({
          method: 'PUT',
          url: `/api/markets/${market.id}`,
          headers: alice.auth,
          payload: marketBody({ name: 'Replaced by PUT', slug: `${market.slug}-moved` }),
        });
        assert.equal(res.statusCode, 200);
        assert.equal((await get(`/api/markets/${market.id}`)).json().data.name, 'Replaced by PUT');
        assert.equal((await get(`/api/markets/${market.slug}`)).statusCode, 404, 'the old slug is gone');
        assert.equal((await get(`/api/markets/${market.slug}-moved`)).json().data.id, market.id);
        assert.equal((await inList(market.id)).slug, `${market.slug}-moved`);

        await get(`/api/markets/${market.slug}-moved`);
        await warm();
        res = await t.request({ method: 'DELETE', url: `/api/markets/${market.id}`, headers: alice.auth });
        assert.equal(res.statusCode, 204);
        assert.equal((await get(`/api/markets/${market.id}`)).statusCode, 404);
        assert.equal((await get(`/api/markets/${market.slug}-moved`)).statusCode, 404);
        assert.equal(await inList(market.id), undefined);
      });

      test('a slug freed by a rename and taken by a new market leads to the new market', async () => {
        const slug = `reused-${Date.now()}`;
        const first = await create({ slug });
        await get(`/api/markets/${slug}`);
        await t.request({
          method: 'PATCH',
          url: `/api/markets/${first.id}`,
          headers: alice.auth,
          payload: { slug: `${slug}-old` },
        });
        const second = await create({ slug });
        assert.equal((await get(`/api/markets/${slug}`)).json().data.id, second.id);
      });

      test('a cached active market reads as closed once its close time passes, still from the cache', async () => {
        const closesAt = new Date(Date.now() + 1500);
        const market = await create({ closesAt: closesAt.toISOString() });
        const read = () => get(`/api/markets/${market.id}`);
        const first = await read();
        assert.equal(first.json().data.status, 'active');
        assert.equal((await read()).body, first.body, 'a repeated hit sends the same representation');

        await new Promise((resolve) => setTimeout(resolve, closesAt.getTime() - Date.now() + 50));
        const queries = await queriesDuring(async () => {
          const res = await read();
          assert.equal(res.statusCode, 200);
          assert.equal(res.json().data.status, 'closed');
          assert.deepEqual({ ...res.json().data, status: 'active' }, first.json().data);
        });
        assert.equal(queries, 0);
      });

      test('concurrent misses for one market cost one database query (single-flight)', async () => {
        const market = await create();
        const queries = await queriesDuring(async () => {
          const responses = await Promise.all(
            Array.from({ length: 25 }, () => get(`/api/markets/${market.id}`)),
          );
          for (const res of responses) assert.equal(res.json().data.id, market.id);
        });
        assert.equal(queries, 1);
      });

      test('the first list page is cached under its normalised query; a new market shows up at once', async () => {
        await create();
        const url = '/api/markets?limit=5&fields=id,name,volume&sort=createdAt&order=desc';
        await get(url);
        assert.equal(await queriesDuring(() => get(url)), 0);
        const respelled = '/api/markets?order=desc&fields=volume,id,name&limit=5';
        assert.equal(await queriesDuring(() => get(respelled)), 0, 'same query, other spelling');

        const fresh = await create({ name: 'A brand new market on the first page' });
        const page = (await get(url)).json().data;
        assert.equal(page[0].id, fresh.id);
        assert.equal(page[0].name, 'A brand new market on the first page');
      });

      test('one cached page answers each field selection with its own fields, and shows a market closed once it closes', async () => {
        const category = `closing-${Date.now()}`;
        const closesAt = new Date(Date.now() + 1500);
        const market = await create({ category, closesAt: closesAt.toISOString() });
        // Both select the same columns (status brings closesAt along), so they share one cached page.
        const narrow = `/api/markets?category=${category}&fields=id,status`;
        const wide = `/api/markets?category=${category}&fields=id,status,closesAt`;
        const withCreator = `${narrow}&include=creator`;
        const read = async (url: string) => (await get(url)).json().data;

        assert.deepEqual(await read(narrow), [{ id: market.id, status: 'active' }]);
        assert.equal(await queriesDuring(() => get(wide)), 0, 'the page is cached');
        assert.deepEqual(await read(wide), [{ id: market.id, status: 'active', closesAt: market.closesAt }]);
        assert.deepEqual(await read(narrow), [{ id: market.id, status: 'active' }]);
        assert.deepEqual(await read(withCreator), [
          { id: market.id, status: 'active', creator: { id: alice.id, name: 'Alice' } },
        ]);

        await new Promise((resolve) => setTimeout(resolve, closesAt.getTime() - Date.now() + 50));
        const queries = await queriesDuring(async () => {
          assert.deepEqual(await read(narrow), [{ id: market.id, status: 'closed' }]);
          assert.deepEqual(await read(wide), [
            { id: market.id, status: 'closed', closesAt: market.closesAt },
          ]);
        });
        assert.equal(queries, 0);
      });

      test('the total of a list with count=true follows creations', async () => {
        const url = '/api/markets?limit=1&count=true&category=counting';
        await create({ category: 'counting' });
        const before = (await get(url)).json().meta.total;
        assert.equal(await queriesDuring(() => get(url)), 0);
        await create({ category: 'counting' });
        assert.equal((await get(url)).json().meta.total, before + 1);
      });
    });
  }
}
