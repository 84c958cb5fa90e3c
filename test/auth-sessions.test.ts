import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { login, registration, signUp } from './helpers/accounts.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';

for (const kind of databaseKinds()) {
  describe(`accounts and sessions (${kind})`, () => {
    let t: TestApp;

    // A real (if light) argon2id cost, so the timing test below measures hashing, not noise.
    before(async () => {
      t = await buildTestApp(kind, { PASSWORD_HASH_MEMORY_KIB: '8192', PASSWORD_HASH_ITERATIONS: '3' });
    });
    after(() => t.close());

    const register = (payload: Record<string, unknown>) =>
      t.request({ method: 'POST', url: '/api/auth/register', payload });
    const refresh = (refreshToken: string) =>
      t.request({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken } });
    const me = (authorization: string) =>
      t.request({ method: 'GET', url: '/api/me', headers: { authorization } });

    test('register returns the new user as a "user", without any password or hash', async () => {
      const body = registration({ name: '  Ada Lovelace  ' });
      const res = await register(body);
      assert.equal(res.statusCode, 201);
      const { data } = res.json();
      assert.deepEqual(Object.keys(data).sort(), ['balance', 'createdAt', 'email', 'id', 'name', 'role']);
      assert.equal(data.balance, 1000, 'a new user receives the sign-up grant');
      assert.equal(data.email, body.email);
      assert.equal(data.name, 'Ada Lovelace');
      assert.equal(data.role, 'user');
      assert.doesNotMatch(res.body, /argon2|correct horse/);
      const row = await t.database.db
        .selectFrom('users')
        .select('passwordHash')
        .where('id', '=', data.id)
        .executeTakeFirstOrThrow();
      assert.match(row.passwordHash!, /^\$argon2id\$/);
    });

    test('an email is taken in any letter case (409 EMAIL_TAKEN)', async () => {
      const body = registration();
      assert.equal((await register(body)).statusCode, 201);
      const res = await register({ ...body, email: body.email.toUpperCase() });
      assert.equal(res.statusCode, 409);
      assert.equal(res.json().code, 'EMAIL_TAKEN');
    });

    test('weak or oversized input is refused before any hashing, and creates no account', async () => {
      const email = registration().email;
      const cases: [Record<string, unknown>, string][] = [
        [{ password: 'short-pw1' }, 'password'],
        [{ password: email.toUpperCase() }, 'password'],
        [{ password: 'x'.repeat(10_000) }, 'password'],
        [{ email: `${'a'.repeat(10_000)}@example.com` }, 'email'],
        [{ email: 'not-an-email' }, 'email'],
        [{ name: '' }, 'name'],
        [{ role: 'admin' }, ''],
        [{ isAdmin: true }, ''],
      ];
      for (const [override, field] of cases) {
        const res = await register(registration({ email, ...override }));
        assert.equal(res.statusCode, 400, JSON.stringify(override).slice(0, 80));
        assert.equal(res.json().code, 'VALIDATION_ERROR');
        if (field)
          assert.ok(
            res.json().details.some((d: { path: string[] }) => d.path.includes(field)),
            field,
          );
      }
      const users = await t.database.db.selectFrom('users').select('id').where('email', '=', email).execute();
      assert.equal(users.length, 0);
      const login = await t.request({
        method: 'POST',
        url: '/api/auth/login',
        payload: { email, password: 'x'.repeat(10_000) },
      });
      assert.equal(login.statusCode, 400);
    });

    test('login returns a 15-minute access token that identifies the user, and a refresh token', async () => {
      const account = await signUp(t);
      assert.equal(account.expiresIn, 900);
      assert.match(account.refreshToken, /^[\w-]{43}$/);
      const res = await me(`Bearer ${account.accessToken}`);
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().data.id, account.id);
      // Email lookup ignores case.
      await login(t, account.email.toUpperCase(), account.password);
    });

    test('a wrong password and an unknown email get the same 401 and take about as long', async () => {
      const account = await signUp(t);
      const attempt = async (email: string) => {
        const started = performance.now();
        const res = await t.request({
          method: 'POST',
          url: '/api/auth/login',
          payload: { email, password: 'not the password' },
        });
        return { res, ms: performance.now() - started };
      };
      const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const wrong: number[] = [];
      const unknown: number[] = [];
      for (let i = 0; i < 7; i++) {
        const a = await attempt(account.email);
        const b = await attempt(`nobody-${i}@example.com`);
        for (const { res } of [a, b]) {
          assert.equal(res.statusCode, 401);
          assert.equal(res.json().error, 'Invalid email or password');
          assert.equal(res.json().code, 'UNAUTHORIZED');
        }
        wrong.push(a.ms);
        unknown.push(b.ms);
      }
      assert.ok(median(wrong) > 5, `a wrong password costs a hash (${median(wrong)} ms)`);
      assert.ok(
        median(unknown) > median(wrong) * 0.5,
        `unknown email ${median(unknown).toFixed(1)} ms vs wrong password ${median(wrong).toFixed(1)} ms`,
      );
    });

    test('refresh rotates: the new pair works, the old refresh token does not', async () => {
      const account = await signUp(t);
      const first = await refresh(account.refreshToken);
      assert.equal(first.statusCode, 200);
      const next = first.json().data;
      assert.notEqual(next.refreshToken, account.refreshToken);
      assert.equal((await me(`Bearer ${next.accessToken}`)).json().data.id, account.id);
      assert.equal((await refresh(next.refreshToken)).statusCode, 200);
    });

    test('presenting an already-used refresh token ends the whole session, including its newest token', async () => {
      const account = await signUp(t);
      const rotated = (await refresh(account.refreshToken)).json().data;
      const replay = await refresh(account.refreshToken);
      assert.equal(replay.statusCode, 401);
      assert.match(replay.json().error, /already used/);
      assert.equal((await refresh(rotated.refreshToken)).statusCode, 401);
      // Another login of the same user is a separate session and is untouched.
      const other = await login(t, account.email, account.password);
      assert.equal((await refresh(other.refreshToken)).statusCode, 200);
    });

    test('two refreshes racing with the same token: one wins, the other counts as reuse', async () => {
      const account = await signUp(t);
      const results = await Promise.all([refresh(account.refreshToken), refresh(account.refreshToken)]);
      assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 401]);
      const rows = await t.database.db
        .selectFrom('refreshTokens')
        .select('revokedAt')
        .where('userId', '=', account.id)
        .execute();
      assert.equal(rows.length, 2, 'exactly one successor was issued');
    });

    test('logout revokes the refresh token; logging out again is harmless', async () => {
      const account = await signUp(t);
      const out = await t.request({
        method: 'POST',
        url: '/api/auth/logout',
        payload: { refreshToken: account.refreshToken },
      });
      assert.equal(out.statusCode, 204);
      assert.equal((await refresh(account.refreshToken)).statusCode, 401);
      const again = await t.request({
        method: 'POST',
        url: '/api/auth/logout',
        payload: { refreshToken: account.refreshToken },
      });
      assert.equal(again.statusCode, 204);
    });

    test('an unknown, expired or oversized refresh token is refused', async () => {
      assert.equal((await refresh('not-a-token-we-ever-issued')).statusCode, 401);
      assert.equal((await refresh('x'.repeat(10_000))).statusCode, 400);
      const account = await signUp(t);
      await t.database.db
        .updateTable('refreshTokens')
        .set({ expiresAt: new Date(Date.now() - 1000) })
        .execute();
      const res = await refresh(account.refreshToken);
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error, 'Invalid or expired refresh token');
    });

    test('PATCH /api/me changes the name only; role or email in the body is a 400 and changes nothing', async () => {
      const account = await signUp(t);
      const patch = (payload: Record<string, unknown>) =>
        t.request({ method: 'PATCH', url: '/api/me', headers: account.auth, payload });
      const renamed = await patch({ name: 'Grace Hopper' });
      assert.equal(renamed.statusCode, 200);
      assert.equal(renamed.json().data.name, 'Grace Hopper');
      for (const body of [{ role: 'admin' }, { name: 'X', role: 'admin' }, { email: 'new@example.com' }]) {
        const res = await patch(body);
        assert.equal(res.statusCode, 400, JSON.stringify(body));
        assert.equal(res.json().code, 'VALIDATION_ERROR');
      }
      const after = (await me(account.auth.authorization)).json().data;
      assert.equal(after.role, 'user');
      assert.equal(after.name, 'Grace Hopper');
      assert.equal(after.email, account.email);
    });

    test('passwords and tokens never reach the logs', async () => {
      const account = await signUp(t, { password: 'a-very-distinctive-passphrase' });
      await refresh(account.refreshToken);
      const logged = JSON.stringify(t.logs);
      assert.doesNotMatch(logged, /a-very-distinctive-passphrase/);
      assert.ok(!logged.includes(account.refreshToken));
      assert.ok(!logged.includes(account.accessToken));
    });
  });
}
