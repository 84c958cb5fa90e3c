import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { migrate } from '../src/db/migrate.ts';
import { SCOPE_NAMES, type Scope } from '../src/modules/auth/scopes.ts';
import { generateApiKey } from '../src/modules/users/api-key-format.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { marketBody } from './helpers/factories.ts';

type Caller = { auth: { authorization: string } };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

for (const kind of databaseKinds()) {
  describe(`scoped API keys (${kind})`, () => {
    let t: TestApp;
    let admin: Awaited<ReturnType<TestApp['user']>>;
    let user: Awaited<ReturnType<TestApp['user']>>;
    let doc: { paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>> };

    before(async () => {
      t = await buildTestApp(kind);
      admin = await t.user('admin', 'Scoped Admin');
      user = await t.user('user', 'Scoped User');
      doc = (await t.request({ method: 'GET', url: '/openapi.json' })).json();
    });
    after(() => t.close());

    async function createKey(owner: Caller, body: Record<string, unknown> = {}) {
      const res = await t.request({
        method: 'POST',
        url: '/api/me/api-keys',
        headers: owner.auth,
        payload: { name: 'scoped', ...body },
      });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().data as { id: string; key: string; scopes: Scope[]; expiresAt: string | null };
    }
    const keyCount = async (userId: string) =>
      Number(
        (
          await t.database.db
            .selectFrom('apiKeys')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('userId', '=', userId)
            .executeTakeFirstOrThrow()
        ).n,
      );

    /** Every protected operation of the document with the scope it names. */
    const scopedOperations = () =>
      Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.entries(methods)
          .filter(([, op]) => op.security && op.security.length > 0)
          .map(([method, op]) => ({
            method: method.toUpperCase() as 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
            // Any id: the scope is checked before the parameters are.
            url: path.replace(/\{[^}]+\}/g, randomUUID()),
            scope: op.security![0]!.bearerAuth![0] as Scope,
          })),
      );

    test('the document names the scope of each operation as intended', () => {
      const scopeOf = (method: string, path: string) => doc.paths[path]![method]!.security;
      const expected: [string, string, Scope][] = [
        ['get', '/api/me', 'read'],
        ['patch', '/api/me', 'account:write'],
        ['get', '/api/me/api-keys', 'read'],
        ['post', '/api/me/api-keys', 'keys:write'],
        ['delete', '/api/me/api-keys/{id}', 'keys:write'],
        ['get', '/api/me/trades', 'read'],
        ['post', '/api/markets/{id}/quote', 'read'],
        ['post', '/api/markets/{id}/trades', 'trade'],
        ['post', '/api/markets', 'markets:write'],
        ['patch', '/api/markets/{id}', 'markets:write'],
        ['post', '/api/markets/{id}/comments', 'comments:write'],
        ['delete', '/api/markets/{id}/comments/{commentId}', 'comments:write'],
        ['post', '/api/me/webhooks', 'webhooks:write'],
        ['get', '/api/me/webhooks', 'read'],
        ['post', '/api/markets/{id}/resolve', 'markets:write'],
        ['post', '/api/markets/{id}/cancel', 'markets:write'],
        ['get', '/api/admin/ledger', 'admin'],
        ['patch', '/api/users/{id}/role', 'admin'],
      ];
      for (const [method, path, scope] of expected) {
        assert.deepEqual(scopeOf(method, path), [{ bearerAuth: [scope] }, { apiKeyAuth: [scope] }], path);
      }
      assert.deepEqual(doc.paths['/api/markets']!.get!.security, [], 'public reads need no key');
    });

    test('a key with one scope passes the routes of that scope and gets 403 naming the scope on every other', async () => {
      // An admin's keys: the role allows every route, so only the scope decides.
      const keys = new Map<Scope, string>();
      for (const scope of SCOPE_NAMES) keys.set(scope, (await createKey(admin, { scopes: [scope] })).key);
      const operations = scopedOperations();
      assert.ok(operations.length >= 15);
      const seen = new Set<Scope>();
      for (const op of operations) {
        seen.add(op.scope);
        for (const [scope, key] of keys) {
          const res = await t.request({ method: op.method, url: op.url, headers: bearer(key) });
          const where = `${op.method} ${op.url} with a "${scope}" key`;
          if (scope === op.scope) {
            assert.notEqual(res.json().code, 'INSUFFICIENT_SCOPE', where);
            assert.notEqual(res.statusCode, 401, where);
          } else {
            assert.equal(res.statusCode, 403, `${where}: ${res.body}`);
            const body = res.json();
            assert.equal(body.success, false);
            assert.equal(body.code, 'INSUFFICIENT_SCOPE', where);
            assert.match(body.error, new RegExp(`"${op.scope}" scope`), where);
            assert.deepEqual(body.details, [{ scope: op.scope }], where);
            assert.equal(typeof body.requestId, 'string');
          }
        }
      }
      assert.deepEqual([...seen].sort(), [...SCOPE_NAMES].sort(), 'every scope guards some route');
    });

    test('the right scope does the work: a trade key trades but cannot create markets; a read key reads but cannot rename', async () => {
      const market = await t.request({
        method: 'POST',
        url: '/api/markets',
        headers: user.auth,
        payload: marketBody(),
      });
      assert.equal(market.statusCode, 201, market.body);
      const id = market.json().data.id;
      const trader = await createKey(user, { scopes: ['trade', 'read'] });
      const trade = await t.request({
        method: 'POST',
        url: `/api/markets/${id}/trades`,
        headers: bearer(trader.key),
        payload: { outcome: 'YES', side: 'buy', amount: 3 },
      });
      assert.equal(trade.statusCode, 201, trade.body);
      const create = await t.request({
        method: 'POST',
        url: '/api/markets',
        headers: { 'x-api-key': trader.key },
        payload: marketBody(),
      });
      assert.equal(create.statusCode, 403);
      assert.equal(create.json().code, 'INSUFFICIENT_SCOPE');
      const trades = await t.request({ method: 'GET', url: '/api/me/trades', headers: bearer(trader.key) });
      assert.equal(trades.statusCode, 200);
      assert.equal(trades.json().data.length, 1);

      const reader = await createKey(user, { scopes: ['read'] });
      const me = await t.request({ method: 'GET', url: '/api/me', headers: bearer(reader.key) });
      assert.equal(me.statusCode, 200);
      const rename = await t.request({
        method: 'PATCH',
        url: '/api/me',
        headers: bearer(reader.key),
        payload: { name: 'Renamed by a read key' },
      });
      assert.equal(rename.statusCode, 403);
      assert.deepEqual(rename.json().details, [{ scope: 'account:write' }]);
      const after = await t.request({ method: 'GET', url: '/api/me', headers: user.auth });
      assert.equal(after.json().data.name, 'Scoped User', 'nothing changed');
    });

    test('the role is the ceiling: a user or moderator cannot create an admin key; the default is what the role allows', async () => {
      const moderator = await t.user('moderator');
      for (const owner of [user, moderator]) {
        const before = await keyCount(owner.id);
        const res = await t.request({
          method: 'POST',
          url: '/api/me/api-keys',
          headers: owner.auth,
          payload: { name: 'too strong', scopes: ['read', 'admin'] },
        });
        assert.equal(res.statusCode, 403, res.body);
        const body = res.json();
        assert.equal(body.code, 'SCOPE_NOT_ALLOWED');
        assert.match(body.error, /"admin"/);
        assert.deepEqual(body.details, [{ scope: 'admin' }]);
        assert.equal(await keyCount(owner.id), before, 'no key was created');
      }
      assert.deepEqual((await createKey(moderator)).scopes, [
        'read',
        'trade',
        'markets:write',
        'comments:write',
        'account:write',
        'keys:write',
        'webhooks:write',
      ]);
      assert.deepEqual((await createKey(admin)).scopes, SCOPE_NAMES);
    });

    test("a key's scopes are cut to its owner's current role at each use", async () => {
      const other = await t.user('admin', 'Second Admin');
      const key = (await createKey(other, { scopes: ['admin', 'read'] })).key;
      const ledger = () => t.request({ method: 'GET', url: '/api/admin/ledger', headers: bearer(key) });
      assert.equal((await ledger()).statusCode, 200);
      const demote = (role: string) =>
        t.request({
          method: 'PATCH',
          url: `/api/users/${other.id}/role`,
          headers: admin.auth,
          payload: { role },
        });
      assert.equal((await demote('user')).statusCode, 200);
      assert.equal((await ledger()).statusCode, 403, 'the admin scope went with the role');
      const me = await t.request({ method: 'GET', url: '/api/me', headers: bearer(key) });
      assert.equal(me.statusCode, 200, 'what the role still allows keeps working');
      // The key lists what it was given; the role decides what of it counts.
      const listed = await t.request({ method: 'GET', url: '/api/me/api-keys', headers: bearer(key) });
      assert.deepEqual(listed.json().data[0].scopes, ['read', 'admin']);
      assert.equal((await demote('admin')).statusCode, 200);
      assert.equal((await ledger()).statusCode, 200, 'and comes back with it');
    });

    test('a key creates keys only with keys:write, and only with scopes it has itself', async () => {
      const plain = await createKey(user, { scopes: ['read', 'trade'] });
      const before = await keyCount(user.id);
      const refused = await t.request({
        method: 'POST',
        url: '/api/me/api-keys',
        headers: bearer(plain.key),
        payload: { name: 'child' },
      });
      assert.equal(refused.statusCode, 403);
      assert.deepEqual(refused.json().details, [{ scope: 'keys:write' }]);
      const revoke = await t.request({
        method: 'DELETE',
        url: `/api/me/api-keys/${plain.id}`,
        headers: bearer(plain.key),
      });
      assert.equal(revoke.statusCode, 403, 'nor revoke them');
      assert.equal(await keyCount(user.id), before);

      const minter = await createKey(user, { scopes: ['keys:write', 'read'] });
      const child = await createKey({ auth: bearer(minter.key) });
      assert.deepEqual(child.scopes, ['read', 'keys:write'], 'by default: the creating key’s scopes');
      const stronger = await t.request({
        method: 'POST',
        url: '/api/me/api-keys',
        headers: bearer(minter.key),
        payload: { name: 'stronger', scopes: ['read', 'trade'] },
      });
      assert.equal(stronger.statusCode, 403);
      assert.equal(stronger.json().code, 'SCOPE_NOT_ALLOWED');
      assert.deepEqual(stronger.json().details, [{ scope: 'trade' }]);
    });

    test('an expired key is a 401; the expiry is listed; a key without one keeps working', async () => {
      const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
      const expiring = await createKey(user, { scopes: ['read'], expiresAt });
      assert.equal(expiring.expiresAt, expiresAt);
      const me = () => t.request({ method: 'GET', url: '/api/me', headers: bearer(expiring.key) });
      assert.equal((await me()).statusCode, 200);
      // An hour later, as far as the database's clock is concerned.
      await t.database.db
        .updateTable('apiKeys')
        .set({ expiresAt: sql`now() - interval '1 second'` })
        .where('id', '=', expiring.id)
        .execute();
      const expired = await me();
      assert.equal(expired.statusCode, 401);
      assert.equal(expired.json().code, 'UNAUTHORIZED');
      assert.match(expired.json().error, /expired/);
      const forever = await createKey(user, { scopes: ['read'] });
      assert.equal(forever.expiresAt, null);
      assert.equal(
        (await t.request({ method: 'GET', url: '/api/me', headers: bearer(forever.key) })).statusCode,
        200,
      );
    });

    test('unknown scopes, empty scope lists and bad expiries are 400s and create nothing', async () => {
      const before = await keyCount(user.id);
      for (const payload of [
        { name: 'x', scopes: ['superuser'] },
        { name: 'x', scopes: ['read', 'markets:delete'] },
        { name: 'x', scopes: [] },
        { name: 'x', scopes: 'read' },
        { name: 'x', expiresAt: '2020-01-01T00:00:00Z' },
        { name: 'x', expiresAt: 'next week' },
        { name: 'x', expiresAt: '2999-01-01T00:00:00Z' },
      ]) {
        const res = await t.request({ method: 'POST', url: '/api/me/api-keys', headers: user.auth, payload });
        assert.equal(res.statusCode, 400, `${JSON.stringify(payload)}: ${res.body}`);
        assert.equal(res.json().code, 'VALIDATION_ERROR');
      }
      assert.equal(await keyCount(user.id), before);
    });

    test('keys made before scopes existed keep doing what they did: everything their owner’s role allows', async () => {
      // Back to the schema before migration 011, with keys as that version stored them.
      const db = t.database.db;
      await sql`alter table api_keys drop constraint api_keys_scopes_known, drop column scopes, drop column expires_at`.execute(
        db,
      );
      await sql`delete from schema_migrations where name = '011_api_key_scopes.sql'`.execute(db);
      const owners = { user: await t.user('user'), admin: await t.user('admin') };
      const old: Record<string, string> = {};
      for (const [role, owner] of Object.entries(owners)) {
        const { key, prefix, hash } = generateApiKey();
        await sql`insert into api_keys (user_id, name, prefix, key_hash) values (${owner.id}, 'old key', ${prefix}, ${hash})`.execute(
          db,
        );
        old[role] = key;
      }
      assert.deepEqual(await migrate(t.database), ['011_api_key_scopes.sql']);

      const market = await t.request({
        method: 'POST',
        url: '/api/markets',
        headers: bearer(old.user!),
        payload: marketBody(),
      });
      assert.equal(market.statusCode, 201, market.body);
      const trade = await t.request({
        method: 'POST',
        url: `/api/markets/${market.json().data.id}/trades`,
        headers: bearer(old.user!),
        payload: { outcome: 'NO', side: 'buy', amount: 2 },
      });
      assert.equal(trade.statusCode, 201, trade.body);
      const child = await createKey({ auth: bearer(old.user!) });
      assert.deepEqual(child.scopes, [
        'read',
        'trade',
        'markets:write',
        'comments:write',
        'account:write',
        'keys:write',
        'webhooks:write',
      ]);
      const ledger = (key: string) =>
        t.request({ method: 'GET', url: '/api/admin/ledger', headers: bearer(key) });
      assert.equal((await ledger(old.user!)).statusCode, 403, 'a user’s old key was never an admin');
      assert.equal((await ledger(old.admin!)).statusCode, 200, 'an admin’s old key still is');
    });
  });
}
