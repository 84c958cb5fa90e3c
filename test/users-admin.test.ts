import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';

type Caller = Awaited<ReturnType<TestApp['user']>>;

for (const kind of databaseKinds()) {
  describe(`user administration and profiles (${kind})`, () => {
    let t: TestApp;
    let admin: Caller;
    let moderator: Caller;
    let alice: Caller;

    before(async () => {
      t = await buildTestApp(kind);
      admin = await t.user('admin', 'The Admin');
      moderator = await t.user('moderator', 'The Moderator');
      alice = await t.user('user', 'Alice');
    });
    after(() => t.close());

    const setRole = (caller: Caller, id: string, role: string) =>
      t.request({ method: 'PATCH', url: `/api/users/${id}/role`, headers: caller.auth, payload: { role } });
    const adminCount = async () =>
      (await t.database.db.selectFrom('users').select('id').where('role', '=', 'admin').execute()).length;

    test('users and moderators calling admin routes get 403 FORBIDDEN; anonymous callers 401', async () => {
      for (const caller of [alice, moderator]) {
        for (const res of [
          await t.request({ method: 'GET', url: '/api/users', headers: caller.auth }),
          await setRole(caller, caller.id, 'admin'),
        ]) {
          assert.equal(res.statusCode, 403);
          assert.equal(res.json().code, 'FORBIDDEN');
        }
      }
      assert.equal((await t.request({ method: 'GET', url: '/api/users' })).statusCode, 401);
      assert.equal((await t.request({ method: 'GET', url: `/api/users/${alice.id}` })).statusCode, 200);
      const stillUser = await t.request({ method: 'GET', url: '/api/me', headers: alice.auth });
      assert.equal(stillUser.json().data.role, 'user');
    });

    test('admins list users with limit/offset pages, emails included, hashes never', async () => {
      for (let i = 0; i < 3; i++) await t.user('user', `Listed ${i}`);
      const page = async (query: string) =>
        (await t.request({ method: 'GET', url: `/api/users?${query}`, headers: admin.auth })).json();
      const first = await page('limit=2&count=true');
      assert.equal(first.data.length, 2);
      assert.deepEqual(first.meta, { limit: 2, offset: 0, hasMore: true, total: first.meta.total });
      assert.ok(first.meta.total >= 6);
      assert.equal(first.data[0].id, admin.id, 'oldest first');
      assert.ok(first.data[0].email);
      assert.ok(!('passwordHash' in first.data[0]));
      const second = await page('limit=2&offset=2');
      assert.notEqual(second.data[0].id, first.data[1].id);
      const last = await page(`limit=100&offset=${first.meta.total - 1}`);
      assert.equal(last.data.length, 1);
      assert.equal(last.meta.hasMore, false);
      for (const bad of ['limit=0', 'limit=101', 'offset=-1', 'sort=email']) {
        const res = await t.request({ method: 'GET', url: `/api/users?${bad}`, headers: admin.auth });
        assert.equal(res.statusCode, 400, bad);
      }
    });

    test('an admin changes a role, which takes effect on the next request', async () => {
      const bob = await t.user('user', 'Bob');
      const res = await setRole(admin, bob.id, 'moderator');
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().data.role, 'moderator');
      const me = await t.request({ method: 'GET', url: '/api/me', headers: bob.auth });
      assert.equal(me.json().data.role, 'moderator');
      assert.equal((await setRole(admin, bob.id, 'superuser')).statusCode, 400);
      assert.equal((await setRole(admin, '00000000-0000-4000-8000-000000000000', 'user')).statusCode, 404);
    });

    test('the last admin cannot be demoted (409); with a second admin, they can', async () => {
      assert.equal(await adminCount(), 1);
      const res = await setRole(admin, admin.id, 'user');
      assert.equal(res.statusCode, 409);
      assert.equal(res.json().code, 'LAST_ADMIN');
      assert.equal(await adminCount(), 1);

      const second = await t.user('admin', 'Second Admin');
      assert.equal((await setRole(second, second.id, 'moderator')).statusCode, 200);
      assert.equal(await adminCount(), 1);
    });

    test('two admins demoting each other at the same moment leave exactly one admin', async () => {
      const a = await t.user('admin', 'Admin A');
      const b = await t.user('admin', 'Admin B');
      // Several rounds, since a race shows only sometimes. Each starts with exactly A and B as admins.
      for (let round = 0; round < 5; round++) {
        await t.database.db.updateTable('users').set({ role: 'user' }).where('role', '=', 'admin').execute();
        await t.database.db
          .updateTable('users')
          .set({ role: 'admin' })
          .where('id', 'in', [a.id, b.id])
          .execute();
        const results = await Promise.all([setRole(a, b.id, 'user'), setRole(b, a.id, 'user')]);
        const statuses = results.map((r) => r.statusCode).sort();
        // The loser is refused as the last admin (409) or, if it arrives later, as no longer an admin (403).
        assert.equal(statuses[0], 200, `round ${round}: ${statuses}`);
        assert.ok([403, 409].includes(statuses[1]!), `round ${round}: ${statuses}`);
        assert.equal(await adminCount(), 1, `round ${round}`);
      }
    });

    test('a public profile shows name and join date to anyone, never the email', async () => {
      const res = await t.request({ method: 'GET', url: `/api/users/${alice.id}` });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(Object.keys(res.json().data).sort(), ['createdAt', 'id', 'name']);
      assert.ok(!res.body.includes(alice.email));
      assert.equal(
        (await t.request({ method: 'GET', url: '/api/users/00000000-0000-4000-8000-000000000000' }))
          .statusCode,
        404,
      );
      assert.equal((await t.request({ method: 'GET', url: '/api/users/not-a-uuid' })).statusCode, 400);
    });
  });
}
