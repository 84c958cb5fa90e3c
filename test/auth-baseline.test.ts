import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { LOCAL_AUDIENCE, LOCAL_ISSUER } from '../src/modules/auth/tokens.ts';
import { buildTestApp, TEST_JWT_SECRET, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { marketBody } from './helpers/factories.ts';

const key = (secret: string) => new TextEncoder().encode(secret);
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A token built by hand, to get the shapes the service itself never signs. */
function craft(
  claims: Record<string, unknown>,
  { secret = TEST_JWT_SECRET, alg = 'HS256', iat = nowSeconds(), exp = nowSeconds() + 600 } = {},
) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setIssuer(LOCAL_ISSUER)
    .setAudience(LOCAL_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key(secret));
}

for (const kind of databaseKinds()) {
  describe(`authentication baseline (${kind})`, () => {
    let t: TestApp;
    let alice: Awaited<ReturnType<TestApp['user']>>;

    const marketCount = async () =>
      Number(
        (
          await t.database.db
            .selectFrom('markets')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const createWith = (authorization?: string) =>
      t.request({
        method: 'POST',
        url: '/api/markets',
        headers: authorization === undefined ? {} : { authorization },
        payload: marketBody(),
      });

    before(async () => {
      t = await buildTestApp(kind);
      alice = await t.user('user', 'Alice');
    });
    after(() => t.close());

    test('a valid bearer token may write; the log line carries its user', async () => {
      const res = await t.request({
        method: 'POST',
        url: '/api/markets',
        headers: { ...alice.auth, 'x-request-id': 'auth-ok' },
        payload: marketBody(),
      });
      assert.equal(res.statusCode, 201);
      assert.equal(res.json().data.creatorId, alice.id);
      const line = t.logs.find((l) => l.requestId === 'auth-ok' && l.msg === 'request completed');
      assert.equal(line?.userId, alice.id);
    });

    test('every way a token can be wrong is a 401 with its own message, and writes nothing', async () => {
      const claims = { sub: alice.id, email: alice.email, role: 'user' };
      const [header, payload] = alice.token.split('.');
      const cases: [string, string | undefined, string][] = [
        ['no header', undefined, 'Missing authorization token'],
        [
          'not Bearer',
          `Basic ${Buffer.from('alice:pw').toString('base64')}`,
          'Authorization header must be "Bearer <token>"',
        ],
        ['Bearer and nothing', 'Bearer ', 'Authorization header must be "Bearer <token>"'],
        [
          'two tokens',
          `Bearer ${alice.token} ${alice.token}`,
          'Authorization header must be "Bearer <token>"',
        ],
        ['not a JWT', 'Bearer not-a-jwt', 'Malformed token'],
        ['three parts of garbage', 'Bearer aaa.bbb.ccc', 'Malformed token'],
        ['signature stripped', `Bearer ${header}.${payload}.`, 'Invalid token signature'],
        [
          'expired',
          `Bearer ${await craft(claims, { iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 })}`,
          'Token expired',
        ],
        [
          'signed with another secret',
          `Bearer ${await craft(claims, { secret: 'another-secret-that-is-at-least-32-chars' })}`,
          'Invalid token signature',
        ],
        [
          'payload swapped under a valid signature',
          `Bearer ${header}.${Buffer.from(JSON.stringify({ ...claims, role: 'admin', exp: nowSeconds() + 600 })).toString('base64url')}.${alice.token.split('.')[2]}`,
          'Invalid token signature',
        ],
        [
          'another algorithm',
          `Bearer ${await craft(claims, { alg: 'HS512' })}`,
          'Token algorithm not allowed',
        ],
        [
          'claims missing',
          `Bearer ${await craft({ sub: alice.id })}`,
          'Token lacks the sub, email or role claim',
        ],
      ];
      const before = await marketCount();
      const messages = new Set<string>();
      for (const [label, authorization, message] of cases) {
        const res = await createWith(authorization);
        assert.equal(res.statusCode, 401, label);
        const body = res.json();
        assert.equal(body.code, 'UNAUTHORIZED', label);
        assert.equal(body.error, message, label);
        assert.equal(body.success, false);
        assert.equal(body.requestId, res.headers['x-request-id']);
        messages.add(message);
      }
      assert.equal(
        messages.size,
        7,
        'missing, not Bearer, malformed, expired, bad signature, algorithm, claims: all distinct',
      );
      assert.equal(await marketCount(), before);
    });

    test('a token whose user was deleted is a 401', async () => {
      const ghost = await t.user('user', 'Ghost');
      assert.equal((await createWith(ghost.auth.authorization)).statusCode, 201);
      await t.database.db.deleteFrom('markets').where('creatorId', '=', ghost.id).execute();
      await t.database.db.deleteFrom('users').where('id', '=', ghost.id).execute();
      const res = await createWith(ghost.auth.authorization);
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error, 'The user of this token no longer exists');
    });

    test('the role comes from the database, not from the token', async () => {
      const mallory = await t.user('user', 'Mallory');
      const market = (await createWith(alice.auth.authorization)).json().data;
      // A genuine token whose role claim says moderator, for a user who is not one (any more).
      const claimsModerator = await t.sign({ sub: mallory.id, email: mallory.email, role: 'moderator' });
      const res = await t.request({
        method: 'PATCH',
        url: `/api/markets/${market.id}`,
        headers: { authorization: `Bearer ${claimsModerator}` },
        payload: { name: 'Taken over by a stale role' },
      });
      assert.equal(res.statusCode, 403);
      assert.equal(
        (await t.request({ method: 'GET', url: `/api/markets/${market.id}` })).json().data.name,
        market.name,
      );
    });

    test('reads stay public: a bad token on a public route is ignored', async () => {
      const res = await t.request({
        method: 'GET',
        url: '/api/markets',
        headers: { authorization: 'Bearer garbage' },
      });
      assert.equal(res.statusCode, 200);
    });
  });
}
