import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { PROVIDER_AUDIENCE, PROVIDER_ISSUER, startIdentityProvider } from './helpers/identity-provider.ts';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

for (const kind of databaseKinds()) {
  describe(`tokens from an external identity provider (JWKS) (${kind})`, () => {
    let t: TestApp;
    let idp: Awaited<ReturnType<typeof startIdentityProvider>>;
    let rsa: Awaited<ReturnType<typeof idp.newKey>>;
    let ec: Awaited<ReturnType<typeof idp.newKey>>;

    before(async () => {
      idp = await startIdentityProvider();
      rsa = await idp.newKey('RS256');
      ec = await idp.newKey('ES256');
      t = await buildTestApp(kind, {
        JWT_JWKS_URL: idp.jwksUrl,
        JWT_ISSUER: PROVIDER_ISSUER,
        JWT_AUDIENCE: PROVIDER_AUDIENCE,
        JWT_ROLE_CLAIM: 'realm_access.roles',
        // No cooldown, so the key-rotation test need not wait 30 s.
        JWT_JWKS_COOLDOWN_MS: '0',
      });
    });
    after(async () => {
      await t.close();
      await idp.close();
    });

    const me = (token: string) =>
      t.request({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${token}` } });
    const uniqueSubject = () => `sub-${crypto.randomUUID()}`;
    const uniqueEmail = () => `${crypto.randomUUID()}@idp.example.com`;

    async function refused(token: string, error: string | RegExp, status = 401) {
      const res = await me(token);
      assert.equal(res.statusCode, status, res.body);
      if (typeof error === 'string') assert.equal(res.json().error, error);
      else assert.match(res.json().error, error);
    }

    test('an RS256 token creates the user once, found again by issuer and subject', async () => {
      const sub = uniqueSubject();
      const email = uniqueEmail();
      const first = await me(await idp.sign(rsa, { sub, email, name: 'Provider Person' }));
      assert.equal(first.statusCode, 200, first.body);
      const user = first.json().data;
      assert.equal(user.email, email);
      assert.equal(user.name, 'Provider Person');
      assert.equal(user.role, 'user');
      // Same subject, changed email at the provider: still the same account.
      const again = await me(await idp.sign(rsa, { sub, email: uniqueEmail() }));
      assert.equal(again.json().data.id, user.id);
      const rows = await t.database.db
        .selectFrom('users')
        .select('id')
        .where('externalSubject', '=', sub)
        .execute();
      assert.equal(rows.length, 1);
    });

    test('an ES256 token is accepted too', async () => {
      assert.equal(
        (await me(await idp.sign(ec, { sub: uniqueSubject(), email: uniqueEmail() }))).statusCode,
        200,
      );
    });

    test('the configured role claim sets the role: provider admins may call admin routes, others may not', async () => {
      const asAdmin = await idp.sign(rsa, {
        sub: uniqueSubject(),
        email: uniqueEmail(),
        realm_access: { roles: ['offline_access', 'admin'] },
      });
      const res = await t.request({
        method: 'GET',
        url: '/api/users',
        headers: { authorization: `Bearer ${asAdmin}` },
      });
      assert.equal(res.statusCode, 200);
      const plain = await idp.sign(rsa, { sub: uniqueSubject(), email: uniqueEmail(), role: 'admin' });
      const denied = await t.request({
        method: 'GET',
        url: '/api/users',
        headers: { authorization: `Bearer ${plain}` },
      });
      assert.equal(denied.statusCode, 403, 'a role outside the configured claim is ignored');
    });

    test('a verified email links to the existing account instead of creating a second one', async () => {
      const local = await t.user('user', 'Local Account');
      const res = await me(await idp.sign(rsa, { sub: uniqueSubject(), email: local.email.toUpperCase() }));
      assert.equal(res.json().data.id, local.id);
    });

    test('an unverified email never takes over an existing account', async () => {
      const local = await t.user('user', 'Careful Account');
      await refused(
        await idp.sign(rsa, { sub: uniqueSubject(), email: local.email, email_verified: false }),
        'This email belongs to another account',
      );
    });

    test('wrong issuer, wrong audience, expired and not-yet-valid provider tokens are refused', async () => {
      const base = { sub: uniqueSubject(), email: uniqueEmail() };
      const now = Math.floor(Date.now() / 1000);
      await refused(
        await idp.sign(rsa, { ...base, iss: 'https://evil.example/' }),
        'Token claim "iss" is not valid',
      );
      await refused(
        await idp.sign(rsa, { ...base, aud: 'some-other-app' }),
        'Token claim "aud" is not valid',
      );
      await refused(await idp.sign(rsa, { ...base, iat: now - 600, exp: now - 300 }), 'Token expired');
      await refused(
        await idp.sign(rsa, { ...base, nbf: now + 3600, exp: now + 7200 }),
        'Token claim "nbf" is not valid',
      );
    });

    test('a provider token without exp is refused (it would be valid forever)', async () => {
      await refused(
        await idp.sign(rsa, { sub: uniqueSubject(), email: uniqueEmail(), exp: undefined }),
        'Token claim "exp" is not valid',
      );
    });

    test('algorithm confusion: an HS256 token "signed" with the provider public key is refused', async () => {
      const pem = await idp.publicPem(rsa);
      const now = Math.floor(Date.now() / 1000);
      const forged = await new SignJWT({
        iss: PROVIDER_ISSUER,
        aud: PROVIDER_AUDIENCE,
        sub: uniqueSubject(),
        email: uniqueEmail(),
        realm_access: { roles: ['admin'] },
        exp: now + 300,
      })
        .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
        .sign(new TextEncoder().encode(pem));
      await refused(forged, 'Invalid token signature');
    });

    test('alg "none" with a provider kid is refused', async () => {
      const payload = { iss: PROVIDER_ISSUER, aud: PROVIDER_AUDIENCE, sub: uniqueSubject(), exp: 9e9 };
      await refused(
        `${b64({ alg: 'none', kid: rsa.kid })}.${b64(payload)}.`,
        /algorithm not allowed|Malformed/,
      );
    });

    test('a payload edited after signing is refused', async () => {
      const [header, , signature] = (
        await idp.sign(rsa, { sub: uniqueSubject(), email: uniqueEmail() })
      ).split('.');
      const edited = b64({
        iss: PROVIDER_ISSUER,
        aud: PROVIDER_AUDIENCE,
        sub: uniqueSubject(),
        realm_access: { roles: ['admin'] },
        exp: 9e9,
      });
      await refused(`${header}.${edited}.${signature}`, 'Invalid token signature');
    });

    test('a rotated-in key is fetched once on its first unknown kid; an unpublished key stays refused', async () => {
      await me(await idp.sign(rsa, { sub: uniqueSubject(), email: uniqueEmail() })); // keys cached
      const cached = idp.fetches;
      const rotated = await idp.newKey('RS256');
      assert.equal(
        (await me(await idp.sign(rotated, { sub: uniqueSubject(), email: uniqueEmail() }))).statusCode,
        200,
      );
      assert.equal(idp.fetches, cached + 1);
      assert.equal(
        (await me(await idp.sign(rotated, { sub: uniqueSubject(), email: uniqueEmail() }))).statusCode,
        200,
      );
      assert.equal(idp.fetches, cached + 1, 'a known kid is served from the cache');
      const stranger = await idp.newKey('RS256', false);
      await refused(
        await idp.sign(stranger, { sub: uniqueSubject(), email: uniqueEmail() }),
        'Unknown token signing key',
      );
    });

    test('when the provider is down, a key we have not cached is a 503, and cached keys keep working', async () => {
      const cachedToken = await idp.sign(rsa, { sub: uniqueSubject(), email: uniqueEmail() });
      assert.equal((await me(cachedToken)).statusCode, 200);
      idp.setFailing(true);
      try {
        const fresh = await idp.newKey('ES256');
        await refused(
          await idp.sign(fresh, { sub: uniqueSubject(), email: uniqueEmail() }),
          /identity provider/,
          503,
        );
        assert.equal((await me(cachedToken)).statusCode, 200);
      } finally {
        idp.setFailing(false);
      }
    });

    test('our own HS256 tokens keep working beside the provider', async () => {
      const local = await t.user('moderator');
      const res = await t.request({ method: 'GET', url: '/api/me', headers: local.auth });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().data.role, 'moderator');
    });
  });
}
