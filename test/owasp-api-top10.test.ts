import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { configWith } from '../src/config/env.ts';
import { FAST_PASSWORD_HASHING, registration } from './helpers/accounts.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';
import { databaseKinds } from './helpers/databases.ts';
import { PROVIDER_AUDIENCE, PROVIDER_ISSUER, startIdentityProvider } from './helpers/identity-provider.ts';
import { balanceOf, createMarket, type TestUser, trade } from './helpers/trading.ts';

/**
 * One test per item of the OWASP API Security Top 10 (2023), each asserting what this API does
 * about it. The deep suites live beside the code they test (named in each test); these keep the
 * key behaviour of each item in one place.
 */

type Answer = 'hang' | { status: number; type: string; body: string };

/** A loopback server that records every request and answers with `answer` (or never, with 'hang'). */
async function trapServer(initial: Answer) {
  const hits: string[] = [];
  const state = { answer: initial };
  const server: Server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    if (state.answer === 'hang') return;
    res.writeHead(state.answer.status, { 'content-type': state.answer.type }).end(state.answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    set answer(answer: Answer) {
      state.answer = answer;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

for (const kind of databaseKinds()) {
  describe(`OWASP API Security Top 10 (2023) (${kind})`, () => {
    let t: TestApp;
    let idp: Awaited<ReturnType<typeof startIdentityProvider>>;
    let embeddings: Awaited<ReturnType<typeof trapServer>>;
    let alice: TestUser;
    let bob: TestUser;

    before(async () => {
      idp = await startIdentityProvider();
      // A provider that answers every embeddings request with an HTML error page.
      embeddings = await trapServer({ status: 200, type: 'text/html', body: '<html>upstream error</html>' });
      t = await buildTestApp(kind, {
        ...FAST_PASSWORD_HASHING,
        JWT_JWKS_URL: idp.jwksUrl,
        JWT_ISSUER: PROVIDER_ISSUER,
        JWT_AUDIENCE: PROVIDER_AUDIENCE,
        LOGIN_RATE_LIMIT_PER_MINUTE: '3',
        EMBEDDINGS_PROVIDER: 'openai',
        EMBEDDINGS_URL: `${embeddings.url}/v1/embeddings`,
        EMBEDDINGS_API_KEY: 'test-key',
        EMBEDDINGS_MAX_RETRIES: '0',
      });
      alice = await t.user('user', 'Alice');
      bob = await t.user('user', 'Bob');
    });
    after(async () => {
      await t.close();
      await idp.close();
      await embeddings.close();
    });

    test('API1:2023 Broken Object Level Authorization: a user cannot change or remove objects of another user', async () => {
      // Deeper: markets-crud.test.ts, users-api-keys.test.ts.
      const market = await createMarket(t, alice);
      for (const method of ['PATCH', 'PUT', 'DELETE'] as const) {
        const res = await t.request({
          method,
          url: `/api/markets/${market.id}`,
          headers: bob.auth,
          payload: method === 'DELETE' ? undefined : { name: 'Taken over by Bob', description: 'x' },
        });
        assert.ok([403, 400].includes(res.statusCode), `${method}: ${res.statusCode} ${res.body}`);
      }
      const unchanged = await t.request({ method: 'GET', url: `/api/markets/${market.id}` });
      assert.equal(unchanged.json().data.name, market.name);
      const key = await t.request({
        method: 'POST',
        url: '/api/me/api-keys',
        headers: alice.auth,
        payload: { name: 'bot' },
      });
      const { id: keyId, key: secret } = key.json().data;
      const revoke = await t.request({
        method: 'DELETE',
        url: `/api/me/api-keys/${keyId}`,
        headers: bob.auth,
      });
      assert.equal(revoke.statusCode, 404, 'another user’s key is not even found');
      const still = await t.request({ method: 'GET', url: '/api/me', headers: { 'x-api-key': secret } });
      assert.equal(still.json().data.id, alice.id);
      const bobsTrades = await t.request({ method: 'GET', url: '/api/me/trades', headers: bob.auth });
      assert.deepEqual(bobsTrades.json().data, []);
    });

    test('API2:2023 Broken Authentication: guessing is rate limited per account, forged tokens are refused', async () => {
      // Deeper: auth-tokens.test.ts, auth-jwks.test.ts, auth-sessions.test.ts, rate-limit*.test.ts.
      const body = registration();
      assert.equal(
        (await t.request({ method: 'POST', url: '/api/auth/register', payload: body })).statusCode,
        201,
      );
      const attempt = (password: string, i: number) =>
        t.request({
          method: 'POST',
          url: '/api/auth/login',
          payload: { email: body.email, password },
          remoteAddress: `192.0.2.${100 + i}`,
        });
      const guesses = [];
      for (let i = 0; i < 4; i++) guesses.push((await attempt(`guess number ${i}`, i)).statusCode);
      assert.deepEqual(guesses, [401, 401, 401, 429], 'per email, from any number of addresses');
      assert.equal((await attempt(body.password, 9)).statusCode, 429, 'even the right password waits');

      const forged = await t.sign({ sub: alice.id, email: alice.email, role: 'admin' });
      const [header, payload] = forged.split('.');
      const unsigned = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${payload}.`;
      for (const token of [unsigned, `${header}.${payload}.AAAA`, 'not-a-token']) {
        const res = await t.request({
          method: 'GET',
          url: '/api/me',
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(res.statusCode, 401, token);
      }
    });

    test('API3:2023 Broken Object Property Level Authorization: no mass assignment, no exposed private fields', async () => {
      // Deeper: markets-crud.test.ts (server-owned fields), auth-sessions.test.ts, users-admin.test.ts.
      const register = await t.request({
        method: 'POST',
        url: '/api/auth/register',
        payload: { ...registration(), role: 'admin', balance: 1e9 },
      });
      assert.equal(register.statusCode, 400, 'unknown or server-owned fields are refused');
      const patch = await t.request({
        method: 'PATCH',
        url: '/api/me',
        headers: bob.auth,
        payload: { role: 'admin' },
      });
      assert.equal(patch.statusCode, 400);
      const market = await t.request({
        method: 'POST',
        url: '/api/markets',
        headers: bob.auth,
        payload: {
          name: 'Will mass assignment work?',
          category: 'tech',
          closesAt: '2099-01-01T00:00:00Z',
          volume: 1e9,
          creatorId: alice.id,
        },
      });
      assert.equal(market.statusCode, 400);
      const profile = await t.request({ method: 'GET', url: `/api/users/${alice.id}` });
      assert.equal(profile.statusCode, 200);
      assert.doesNotMatch(
        profile.body,
        /@|password|hash|balance/i,
        'a public profile shows no email or balance',
      );
    });

    test('API4:2023 Unrestricted Resource Consumption: pages, bodies, headers and connections are bounded', async () => {
      // Deeper: http-errors.test.ts (413), http-timeouts.test.ts, rate-limit.test.ts.
      assert.equal((await t.request({ method: 'GET', url: '/api/markets?limit=101' })).statusCode, 400);
      assert.equal((await t.request({ method: 'GET', url: '/api/markets?offset=10001' })).statusCode, 400);
      const big = await t.request({
        method: 'POST',
        url: '/api/markets',
        headers: { ...alice.auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ description: 'x'.repeat(t.config.BODY_LIMIT) }),
      });
      assert.equal(big.statusCode, 413);
      const server = t.app.server;
      assert.ok(
        server.requestTimeout > 0 && server.headersTimeout > 0 && server.timeout > 0,
        'slow clients are cut off',
      );
      assert.ok((server.maxRequestsPerSocket ?? 0) > 0);
    });

    test('API5:2023 Broken Function Level Authorization: admin functions refuse users, moderators and strangers', async () => {
      // Deeper: users-admin.test.ts, auth-route-permissions.test.ts.
      const moderator = await t.user('moderator');
      const adminCalls = [
        ['GET', '/api/admin/ledger'],
        ['GET', '/api/users'],
        ['POST', '/api/admin/reindex'],
        ['PATCH', `/api/users/${bob.id}/role`],
      ] as const;
      for (const [method, url] of adminCalls) {
        const payload = method === 'PATCH' ? { role: 'admin' } : undefined;
        assert.equal((await t.request({ method, url, payload })).statusCode, 401, `anonymous ${url}`);
        for (const who of [bob, moderator]) {
          const res = await t.request({ method, url, headers: who.auth, payload });
          assert.equal(res.statusCode, 403, `${url}: ${res.body}`);
        }
      }
      const me = await t.request({ method: 'GET', url: '/api/me', headers: bob.auth });
      assert.equal(me.json().data.role, 'user');
    });

    test('API6:2023 Unrestricted Access to Sensitive Business Flows: a replayed trade is charged once', async () => {
      // Deeper: trading.test.ts, trading-concurrency.test.ts (idempotency races, double spending).
      const market = await createMarket(t, alice);
      const before = await balanceOf(t, bob.id);
      const key = { 'idempotency-key': `owasp-${crypto.randomUUID()}` };
      const body = { outcome: 'YES', side: 'buy', amount: 10 };
      const replies = await Promise.all(Array.from({ length: 5 }, () => trade(t, bob, market.id, body, key)));
      const ids = new Set(replies.filter((r) => r.statusCode < 300).map((r) => r.json().data.trade.id));
      assert.equal(ids.size, 1, 'one trade, however often it is sent');
      assert.equal(before - (await balanceOf(t, bob.id)), 1000, 'charged 10 units once');
    });

    test('API7:2023 Server Side Request Forgery: only webhooks take a URL, and none can point the server inside', async () => {
      const trap = await trapServer({ status: 200, type: 'application/json', body: '{"keys":[]}' });
      try {
        // Outbound URLs are configuration (JWKS, embeddings), except a webhook's: the only
        // operations that take one are the webhook subscriptions (deeper: webhooks-api.test.ts,
        // webhooks-sender.test.ts, which also check the address again at delivery, after DNS).
        const doc = (await t.request({ method: 'GET', url: '/openapi.json' })).json();
        const suspicious: string[] = [];
        const walk = (node: unknown, path: string) => {
          if (!node || typeof node !== 'object') return;
          for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
            if (key === 'format' && value === 'uri') suspicious.push(path);
            if (/url|uri|webhook|callback|jwks|endpoint|href/i.test(key) && path.includes('properties'))
              suspicious.push(`${path}.${key}`);
            walk(value, `${path}.${key}`);
          }
        };
        walk(doc.paths, 'paths');
        const isWebhooks = (path: string) => path.startsWith('paths./api/me/webhooks');
        assert.deepEqual(
          suspicious.filter((path) => !isWebhooks(path)),
          [],
        );
        assert.ok(suspicious.some(isWebhooks), 'the webhook subscription takes its url');
        // …and a subscription cannot name an address inside: loopback, private, link-local, metadata.
        const admin = await t.user('admin');
        const { port } = new URL(trap.url);
        for (const url of [
          `https://127.0.0.1:${port}/hook`,
          'https://10.0.0.1/hook',
          'https://169.254.169.254/latest/meta-data/',
          `https://[::1]:${port}/hook`,
        ]) {
          const res = await t.request({
            method: 'POST',
            url: '/api/me/webhooks',
            headers: admin.auth,
            payload: { url, events: ['trade.created'] },
          });
          assert.equal(res.statusCode, 400, url);
          assert.equal(res.json().code, 'WEBHOOK_URL_REFUSED', url);
        }
        // A token naming its own key-set (jku, x5u) or embedding a key (jwk) is not fetched or trusted.
        const key = await idp.newKey('RS256', false);
        for (const extra of [{ jku: `${trap.url}/jwks` }, { x5u: `${trap.url}/cert` }, { jwk: key.jwk }]) {
          const token = await idp.sign(key, { sub: `ssrf-${crypto.randomUUID()}` });
          const [h, p, s] = token.split('.');
          const header = { ...JSON.parse(Buffer.from(h!, 'base64url').toString()), ...extra };
          const tampered = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${s}`;
          const res = await t.request({
            method: 'GET',
            url: '/api/me',
            headers: { authorization: `Bearer ${tampered}` },
          });
          assert.equal(res.statusCode, 401, JSON.stringify(extra));
        }
        assert.deepEqual(trap.hits, [], 'the server never called the address the token named');
      } finally {
        await trap.close();
      }
    });

    test('API8:2023 Security Misconfiguration: hardened headers, no CORS by default, no internals in errors', async () => {
      // Deeper: security-headers.test.ts, http-refusals.test.ts, http-errors.test.ts.
      const res = await t.request({
        method: 'GET',
        url: '/api/markets',
        headers: { origin: 'https://evil.example' },
      });
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.ok(res.headers['strict-transport-security']);
      assert.equal(res.headers['access-control-allow-origin'], undefined);
      assert.equal(res.headers['x-powered-by'], undefined);
      const trace = await t.request({ method: 'TRACE' as 'GET', url: '/api/markets' });
      assert.equal(trace.statusCode, 404);
      assert.equal(trace.json().success, false);
      const production = configWith({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) });
      assert.equal(production.DOCS_ENABLED, false, 'docs are off in production unless asked for');
    });

    test('API9:2023 Improper Inventory Management: every documented operation exists, and nothing else under /api', async () => {
      // Deeper: auth-route-permissions.test.ts, openapi-probes.test.ts.
      const doc = (await t.request({ method: 'GET', url: '/openapi.json' })).json();
      assert.equal(doc.info.version, '0.1.0');
      let operations = 0;
      for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
        for (const method of Object.keys(item)) {
          const url = path.replace(/\{(\w+)\}/g, ':$1');
          assert.ok(t.app.hasRoute({ method: method.toUpperCase() as 'GET', url }), `${method} ${path}`);
          operations++;
        }
      }
      assert.ok(operations >= 30, `${operations} operations`);
      for (const url of [
        '/api/v1/markets',
        '/api/v2/markets',
        '/api/internal',
        '/api/debug',
        '/admin',
        '/api/admin',
      ]) {
        assert.equal((await t.request({ method: 'GET', url, headers: bob.auth })).statusCode, 404, url);
      }
    });

    test('API10:2023 Unsafe Consumption of APIs: a misbehaving identity or embeddings provider gives no 500 and no hang', async () => {
      // Deeper: auth-jwks.test.ts (provider down), embeddings-providers.test.ts.
      const provider = await trapServer('hang');
      const other = await buildTestApp(kind, {
        JWT_JWKS_URL: `${provider.url}/jwks.json`,
        JWT_ISSUER: PROVIDER_ISSUER,
        JWT_AUDIENCE: PROVIDER_AUDIENCE,
        JWT_JWKS_COOLDOWN_MS: '0',
      });
      try {
        const token = await idp.sign(await idp.newKey('RS256'), { sub: `p-${crypto.randomUUID()}` });
        for (const answer of [
          { status: 200, type: 'text/html', body: '<html>not a key set</html>' },
          { status: 200, type: 'application/json', body: '{"keys":"nope"}' },
          'hang' as const,
        ]) {
          provider.answer = answer;
          const started = performance.now();
          const res = await other.request({
            method: 'GET',
            url: '/api/me',
            headers: { authorization: `Bearer ${token}` },
          });
          const ms = performance.now() - started;
          assert.equal(res.statusCode, 503, `${JSON.stringify(answer)}: ${res.body}`);
          assert.equal(res.json().code, 'SERVICE_UNAVAILABLE');
          assert.ok(ms < 15_000, `answered after ${Math.round(ms)} ms`);
        }
        assert.equal(provider.hits.length, 3, 'each answer was fetched');
      } finally {
        await other.close();
        await provider.close();
      }
      // The embeddings provider answers HTML: search still answers, by full text.
      const market = await createMarket(t, alice, { name: 'Will the quokka census exceed ten thousand?' });
      const search = await t.request({ method: 'GET', url: '/api/markets/search?q=quokka%20census' });
      assert.equal(search.statusCode, 200, search.body);
      assert.equal(search.json().meta.mode, 'fulltext');
      assert.equal(search.json().data[0]?.id, market.id);
      // PGlite ships pgvector, so there the query was embedded first (the stock PostgreSQL here has none).
      if (kind === 'pglite') assert.ok(embeddings.hits.length > 0, 'the provider was asked');
    });
  });
}
