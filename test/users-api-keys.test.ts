import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { marketBody } from './helpers/factories.ts';

for (const kind of databaseKinds()) {
  describe(`API keys (${kind})`, () => {
    let t: TestApp;
    let alice: Awaited<ReturnType<TestApp['user']>>;
    let bob: Awaited<ReturnType<TestApp['user']>>;

    before(async () => {
      t = await buildTestApp(kind);
      alice = await t.user('user', 'Alice');
      bob = await t.user('user', 'Bob');
    });
    after(() => t.close());

    const createKey = async (owner: { auth: { authorization: string } }, name = 'trading bot') => {
      const res = await t.request({
        method: 'POST',
        url: '/api/me/api-keys',
        headers: owner.auth,
        payload: { name },
      });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().data as { id: string; key: string; prefix: string; name: string };
    };
    const listKeys = async (owner: { auth: { authorization: string } }) =>
      (await t.request({ method: 'GET', url: '/api/me/api-keys', headers: owner.auth })).json().data as {
        id: string;
        lastUsedAt: string | null;
      }[];
    const meWith = (headers: Record<string, string | undefined>) =>
      t.request({ method: 'GET', url: '/api/me', headers });

    test('a new key is shown once, recognisable by its prefix, and only its digest is stored', async () => {
      const created = await createKey(alice, 'nightly script');
      assert.match(created.key, /^mk_live_[\w-]{43}$/);
      assert.ok(created.key.startsWith(created.prefix));
      assert.equal(created.name, 'nightly script');
      const row = await t.database.db
        .selectFrom('apiKeys')
        .select(['keyHash', 'prefix'])
        .where('id', '=', created.id)
        .executeTakeFirstOrThrow();
      assert.match(row.keyHash, /^[0-9a-f]{64}$/);
      assert.ok(!row.keyHash.includes(created.key) && row.prefix.length < created.key.length);
    });

    test('listing shows name, prefix, scopes and times, never the key', async () => {
      const created = await createKey(alice, 'listed key');
      const res = await t.request({ method: 'GET', url: '/api/me/api-keys', headers: alice.auth });
      assert.equal(res.statusCode, 200);
      const listed = res.json().data.find((k: { id: string }) => k.id === created.id);
      assert.deepEqual(Object.keys(listed).sort(), [
        'createdAt',
        'expiresAt',
        'id',
        'lastUsedAt',
        'name',
        'prefix',
        'scopes',
      ]);
      assert.equal(listed.lastUsedAt, null);
      assert.equal(listed.expiresAt, null);
      // Created without a list: every scope a user's role allows.
      assert.deepEqual(listed.scopes, [
        'read',
        'trade',
        'markets:write',
        'comments:write',
        'account:write',
        'keys:write',
        'webhooks:write',
      ]);
      assert.ok(!res.body.includes(created.key));
    });

    test('a key authenticates as its owner through Authorization: Bearer or X-API-Key, and records its use', async () => {
      const { id, key } = await createKey(alice);
      for (const headers of [{ authorization: `Bearer ${key}` }, { 'x-api-key': key }]) {
        const res = await meWith(headers);
        assert.equal(res.statusCode, 200);
        assert.equal(res.json().data.id, alice.id);
      }
      const market = await t.request({
        method: 'POST',
        url: '/api/markets',
        headers: { 'x-api-key': key },
        payload: marketBody(),
      });
      assert.equal(market.statusCode, 201);
      assert.equal(market.json().data.creatorId, alice.id);
      const used = (await listKeys(alice)).find((k) => k.id === id)!;
      assert.ok(used.lastUsedAt && Date.now() - Date.parse(used.lastUsedAt) < 60_000);
    });

    test('a revoked key stops working at once and leaves the list', async () => {
      const { id, key } = await createKey(alice);
      assert.equal((await meWith({ 'x-api-key': key })).statusCode, 200);
      const del = await t.request({ method: 'DELETE', url: `/api/me/api-keys/${id}`, headers: alice.auth });
      assert.equal(del.statusCode, 204);
      const res = await meWith({ 'x-api-key': key });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error, 'Invalid or revoked API key');
      assert.equal((await meWith({ authorization: `Bearer ${key}` })).statusCode, 401);
      assert.ok(!(await listKeys(alice)).some((k) => k.id === id));
    });

    test("a user cannot see or delete another user's key (404), and that key keeps working", async () => {
      const bobs = await createKey(bob, "Bob's bot");
      assert.ok(!(await listKeys(alice)).some((k) => k.id === bobs.id));
      const res = await t.request({
        method: 'DELETE',
        url: `/api/me/api-keys/${bobs.id}`,
        headers: alice.auth,
      });
      assert.equal(res.statusCode, 404);
      assert.equal(res.json().code, 'NOT_FOUND');
      assert.equal((await meWith({ 'x-api-key': bobs.key })).json().data.id, bob.id);
    });

    test('made-up, malformed or doubled credentials are 401s', async () => {
      const { key } = await createKey(alice);
      const forged = `mk_live_${'A'.repeat(43)}`;
      for (const headers of [
        { 'x-api-key': forged },
        { 'x-api-key': 'mk_live_short' },
        { 'x-api-key': 'x'.repeat(5000) },
        { authorization: `Bearer ${forged}` },
        { authorization: alice.auth.authorization, 'x-api-key': key },
      ]) {
        assert.equal((await meWith(headers)).statusCode, 401, JSON.stringify(headers).slice(0, 60));
      }
    });

    test("a deleted user's key stops working", async () => {
      const carol = await t.user('user', 'Carol');
      const { key } = await createKey(carol);
      await t.database.db.deleteFrom('users').where('id', '=', carol.id).execute();
      assert.equal((await meWith({ 'x-api-key': key })).statusCode, 401);
    });

    test('key names are validated; unknown fields are refused', async () => {
      for (const payload of [{ name: '' }, { name: 'x'.repeat(101) }, { name: 'ok', userId: bob.id }, {}]) {
        const res = await t.request({
          method: 'POST',
          url: '/api/me/api-keys',
          headers: alice.auth,
          payload,
        });
        assert.equal(res.statusCode, 400, JSON.stringify(payload));
      }
      const bad = await t.request({
        method: 'DELETE',
        url: '/api/me/api-keys/not-a-uuid',
        headers: alice.auth,
      });
      assert.equal(bad.statusCode, 400);
    });

    test('the cap of 25 active keys holds under 40 parallel creations; a revoked key frees a slot', async () => {
      const dave = await t.user('user', 'Dave');
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          t.request({
            method: 'POST',
            url: '/api/me/api-keys',
            headers: dave.auth,
            payload: { name: `bot ${i}` },
          }),
        ),
      );
      const statuses = results.map((r) => r.statusCode);
      assert.equal(statuses.filter((s) => s === 201).length, 25, statuses.join());
      assert.equal(statuses.filter((s) => s === 409).length, 15, statuses.join());
      assert.ok(
        results.filter((r) => r.statusCode === 409).every((r) => r.json().code === 'TOO_MANY_API_KEYS'),
      );
      const keys = await listKeys(dave);
      assert.equal(keys.length, 25);
      await t.request({ method: 'DELETE', url: `/api/me/api-keys/${keys[0]!.id}`, headers: dave.auth });
      await createKey(dave, 'after a revocation');
    });
  });
}
