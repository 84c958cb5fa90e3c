import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type TestApp, buildTestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { marketBody } from './helpers/factories.ts';

for (const kind of databaseKinds()) {
  describe(`markets CRUD (${kind})`, () => {
    let t: TestApp;
    let alice: Awaited<ReturnType<TestApp['user']>>;
    let bob: Awaited<ReturnType<TestApp['user']>>;
    let moderator: Awaited<ReturnType<TestApp['user']>>;

    before(async () => {
      t = await buildTestApp(kind);
      alice = await t.user('user', 'Alice');
      bob = await t.user('user', 'Bob');
      moderator = await t.user('moderator');
    });
    after(() => t.close());

    const create = (body: Record<string, unknown>, headers = alice.auth) =>
      t.request({ method: 'POST', url: '/api/markets', headers, payload: body });

    test('a signed-in user creates a market; the server owns id, status, volume, probability and creator', async () => {
      const res = await create(marketBody({ name: 'Will the Seine be swimmable in 2027?', tags: ['Paris', 'paris', 'olympics'] }));
      assert.equal(res.statusCode, 201);
      const { data } = res.json();
      assert.match(data.id, /^[0-9a-f-]{36}$/);
      assert.equal(data.slug, 'will-the-seine-be-swimmable-in-2027');
      assert.equal(data.status, 'active');
      assert.equal(data.volume, 0);
      assert.equal(data.probability, 0.5);
      assert.equal(data.creatorId, alice.id);
      assert.deepEqual(data.tags, ['paris', 'olympics']);
      assert.equal(res.headers.etag, '"1"');
      assert.equal(res.headers.location, `/api/markets/${data.id}`);
    });

    test('the same name twice gets a distinct derived slug; an explicit taken slug is a 409', async () => {
      const name = 'Will it snow in Lisbon?';
      const a = (await create(marketBody({ name }))).json().data;
      const b = (await create(marketBody({ name }))).json().data;
      assert.equal(a.slug, 'will-it-snow-in-lisbon');
      assert.match(b.slug, /^will-it-snow-in-lisbon-[0-9a-f]{8}$/);
      const res = await create(marketBody({ slug: 'will-it-snow-in-lisbon' }));
      assert.equal(res.statusCode, 409);
      assert.equal(res.json().code, 'SLUG_TAKEN');
    });

    test('a market is found by id and by slug, with an ETag', async () => {
      const created = (await create(marketBody({ slug: 'find-me-by-slug' }))).json().data;
      for (const key of [created.id, 'find-me-by-slug', created.id.toUpperCase()]) {
        const res = await t.request({ method: 'GET', url: `/api/markets/${key}` });
        assert.equal(res.statusCode, 200, key);
        assert.equal(res.json().data.id, created.id);
        assert.equal(res.headers.etag, '"1"');
      }
      const missing = await t.request({ method: 'GET', url: '/api/markets/00000000-0000-4000-8000-000000000000' });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().code, 'NOT_FOUND');
    });

    test('server-owned or unknown fields in the body are refused (no mass assignment)', async () => {
      for (const extra of [{ id: crypto.randomUUID() }, { status: 'resolved' }, { volume: 1e9 }, { probability: 0.99 }, { creatorId: bob.id }, { createdAt: new Date().toISOString() }, { isAdmin: true }]) {
        const res = await create(marketBody(extra));
        assert.equal(res.statusCode, 400, JSON.stringify(extra));
        assert.equal(res.json().code, 'VALIDATION_ERROR');
      }
    });

    test('create validates every field and reports each problem', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ name: 'ab' }, 'name'],
        [{ name: 'x'.repeat(201) }, 'name'],
        [{ description: 'x'.repeat(5001) }, 'description'],
        [{ tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, 'tags'],
        [{ closesAt: '2001-01-01T00:00:00Z' }, 'closesAt'],
        [{ closesAt: 'tomorrow' }, 'closesAt'],
        [{ category: undefined }, 'category'],
        [{ slug: 'Not A Slug' }, 'slug'],
      ];
      for (const [override, field] of cases) {
        const res = await create(marketBody(override));
        assert.equal(res.statusCode, 400, field);
        const body = res.json();
        assert.equal(body.success, false);
        assert.ok(body.details.some((d: { path: string[] }) => d.path[0] === field), `${field}: ${JSON.stringify(body.details)}`);
        assert.equal(typeof body.requestId, 'string');
      }
    });

    test('PATCH changes some fields and bumps the version; a stale If-Match is a 412 and changes nothing', async () => {
      const m = (await create(marketBody())).json().data;
      const res = await t.request({ method: 'PATCH', url: `/api/markets/${m.id}`, headers: { ...alice.auth, 'if-match': '"1"' }, payload: { name: 'Renamed market' } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().data.name, 'Renamed market');
      assert.equal(res.json().data.version, 2);
      assert.equal(res.headers.etag, '"2"');
      const stale = await t.request({ method: 'PATCH', url: `/api/markets/${m.id}`, headers: { ...alice.auth, 'if-match': '"1"' }, payload: { name: 'Lost update' } });
      assert.equal(stale.statusCode, 412);
      assert.equal(stale.json().code, 'PRECONDITION_FAILED');
      const now = (await t.request({ method: 'GET', url: `/api/markets/${m.id}` })).json().data;
      assert.equal(now.name, 'Renamed market');
      const empty = await t.request({ method: 'PATCH', url: `/api/markets/${m.id}`, headers: alice.auth, payload: {} });
      assert.equal(empty.statusCode, 400);
    });

    test('PUT replaces every editable field', async () => {
      const m = (await create(marketBody({ tags: ['a', 'b'], description: 'old' }))).json().data;
      const body = marketBody({ name: 'Replaced entirely', category: 'sports', tags: ['x'] });
      delete body.description;
      const res = await t.request({ method: 'PUT', url: `/api/markets/${m.id}`, headers: { ...alice.auth, 'if-match': '"1"' }, payload: body });
      assert.equal(res.statusCode, 200);
      const data = res.json().data;
      assert.equal(data.name, 'Replaced entirely');
      assert.equal(data.category, 'sports');
      assert.deepEqual(data.tags, ['x']);
      assert.equal(data.description, '');
      const missing = await t.request({ method: 'PUT', url: `/api/markets/${m.id}`, headers: alice.auth, payload: { name: 'only a name' } });
      assert.equal(missing.statusCode, 400);
    });

    test("a user cannot edit or delete another user's market; a moderator can", async () => {
      const m = (await create(marketBody())).json().data;
      const patch = await t.request({ method: 'PATCH', url: `/api/markets/${m.id}`, headers: bob.auth, payload: { name: 'Hijacked' } });
      assert.equal(patch.statusCode, 403);
      assert.equal(patch.json().code, 'FORBIDDEN');
      const del = await t.request({ method: 'DELETE', url: `/api/markets/${m.id}`, headers: bob.auth });
      assert.equal(del.statusCode, 403);
      const modPatch = await t.request({ method: 'PATCH', url: `/api/markets/${m.id}`, headers: moderator.auth, payload: { name: 'Moderated name' } });
      assert.equal(modPatch.statusCode, 200);
    });

    test('DELETE removes the market; a second DELETE is a 404', async () => {
      const m = (await create(marketBody())).json().data;
      const res = await t.request({ method: 'DELETE', url: `/api/markets/${m.slug}`, headers: alice.auth });
      assert.equal(res.statusCode, 204);
      assert.equal(res.body, '');
      assert.equal((await t.request({ method: 'GET', url: `/api/markets/${m.id}` })).statusCode, 404);
      assert.equal((await t.request({ method: 'DELETE', url: `/api/markets/${m.id}`, headers: alice.auth })).statusCode, 404);
    });

    test('writes without a token are 401 and change nothing', async () => {
      const before = (await t.request({ method: 'GET', url: '/api/markets?count=true' })).json().meta.total;
      const res = await t.request({ method: 'POST', url: '/api/markets', payload: marketBody() });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error, 'Missing authorization token');
      const afterCount = (await t.request({ method: 'GET', url: '/api/markets?count=true' })).json().meta.total;
      assert.equal(afterCount, before);
    });
  });
}
