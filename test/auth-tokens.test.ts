import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { buildTestApp, TEST_JWT_SECRET, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';

const secret = new TextEncoder().encode(TEST_JWT_SECRET);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

for (const kind of databaseKinds()) {
  describe(`access tokens are refused when they should be (${kind})`, () => {
    let t: TestApp;
    let alice: Awaited<ReturnType<TestApp['user']>>;

    before(async () => {
      t = await buildTestApp(kind);
      alice = await t.user('user', 'Alice');
    });
    after(() => t.close());

    const me = (authorization: string) =>
      t.request({ method: 'GET', url: '/api/me', headers: { authorization } });
    const claims = () => ({
      sub: alice.id,
      email: alice.email,
      role: 'user',
      iss: 'markets-api',
      aud: 'markets-api',
    });
    /** An HS256 token signed with the real secret, with any claims. */
    const signed = (payload: Record<string, unknown>) =>
      new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(secret);

    async function refused(token: string, error: string | RegExp) {
      const res = await me(`Bearer ${token}`);
      assert.equal(res.statusCode, 401, res.body);
      assert.equal(res.json().code, 'UNAUTHORIZED');
      if (typeof error === 'string') assert.equal(res.json().error, error);
      else assert.match(res.json().error, error);
    }

    test('a valid token is accepted (the baseline for every refusal below)', async () => {
      assert.equal((await me(alice.auth.authorization)).statusCode, 200);
      assert.equal((await me(`Bearer ${await signed({ ...claims(), exp: now() + 60 })}`)).statusCode, 200);
    });

    test('alg "none" (unsigned) is refused', async () => {
      const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims(), exp: now() + 60 })}.`;
      await refused(unsigned, /algorithm not allowed|Malformed/);
    });

    test('an expired token is refused', async () => {
      await refused(await signed({ ...claims(), iat: now() - 120, exp: now() - 60 }), 'Token expired');
    });

    test('a token accepted before is refused once it expires', async () => {
      const token = await signed({ ...claims(), exp: now() + 2 });
      assert.equal((await me(`Bearer ${token}`)).statusCode, 200);
      assert.equal((await me(`Bearer ${token}`)).statusCode, 200);
      await new Promise((resolve) => setTimeout(resolve, (now() + 3) * 1000 - Date.now()));
      await refused(token, 'Token expired');
    });

    test('a token not valid yet (nbf in the future) is refused', async () => {
      await refused(
        await signed({ ...claims(), nbf: now() + 3600, exp: now() + 7200 }),
        'Token claim "nbf" is not valid',
      );
    });

    test('a wrong issuer or audience is refused', async () => {
      await refused(
        await signed({ ...claims(), iss: 'someone-else', exp: now() + 60 }),
        'Token claim "iss" is not valid',
      );
      await refused(
        await signed({ ...claims(), aud: 'another-app', exp: now() + 60 }),
        'Token claim "aud" is not valid',
      );
    });

    test('a payload edited after signing (role raised to admin) is refused', async () => {
      const [header, , signature] = alice.token.split('.');
      const payload = { ...claims(), role: 'admin', exp: now() + 3600 };
      await refused(`${header}.${b64(payload)}.${signature}`, 'Invalid token signature');
      assert.equal(
        (await t.request({ method: 'GET', url: '/api/users', headers: alice.auth })).statusCode,
        403,
      );
    });

    test('a correctly signed token whose sub is not a user id is a 401, not a 500', async () => {
      for (const sub of ['not-a-uuid', '----', `${alice.id}x`, '']) {
        await refused(await signed({ ...claims(), sub, exp: now() + 60 }), 'Token sub is not a user id');
      }
    });

    test('a correctly signed token without exp is refused (it would be valid forever)', async () => {
      await refused(await signed(claims()), 'Token claim "exp" is not valid');
    });

    test('a token signed with another secret is refused', async () => {
      const other = new TextEncoder().encode('another-secret-that-is-also-32-characters-long');
      const token = await new SignJWT({ ...claims(), exp: now() + 60 })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(other);
      await refused(token, 'Invalid token signature');
    });

    test('a token of a deleted user is refused', async () => {
      const ghost = await t.user('admin', 'Ghost');
      assert.equal((await me(ghost.auth.authorization)).statusCode, 200);
      await t.database.db.deleteFrom('users').where('id', '=', ghost.id).execute();
      await refused(ghost.token, 'The user of this token no longer exists');
    });

    test('an RS256 token is refused when no identity provider is configured', async () => {
      const { privateKey } = await generateKeyPair('RS256');
      const token = await new SignJWT({ ...claims(), exp: now() + 60 })
        .setProtectedHeader({ alg: 'RS256' })
        .sign(privateKey);
      await refused(token, 'Token algorithm not allowed');
    });

    test('garbage, a missing token and a non-Bearer scheme are 401s, not 500s', async () => {
      for (const authorization of [
        'Bearer abc',
        'Bearer a.b.c',
        `Bearer ${'x'.repeat(5000)}`,
        'Basic dXNlcjpwYXNz',
        'Bearer',
      ]) {
        const res = await me(authorization);
        assert.equal(res.statusCode, 401, authorization.slice(0, 40));
      }
      const none = await t.request({ method: 'GET', url: '/api/me' });
      assert.equal(none.statusCode, 401);
      assert.equal(none.json().error, 'Missing authorization token');
    });

    test('the role comes from the database, not the token: a demoted admin loses admin at once', async () => {
      const admin = await t.user('admin', 'Soon Demoted');
      await t.user('admin', 'Remaining Admin');
      assert.equal(
        (await t.request({ method: 'GET', url: '/api/users', headers: admin.auth })).statusCode,
        200,
      );
      await t.database.db.updateTable('users').set({ role: 'user' }).where('id', '=', admin.id).execute();
      const res = await t.request({ method: 'GET', url: '/api/users', headers: admin.auth });
      assert.equal(res.statusCode, 403);
      assert.equal(res.json().code, 'FORBIDDEN');
    });
  });
}
