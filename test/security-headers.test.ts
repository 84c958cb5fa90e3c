import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FAST_PASSWORD_HASHING, registration } from './helpers/accounts.ts';
import { buildTestApp, type TestApp } from './helpers/build-app.ts';

describe('security headers, no-store and CORS (defaults)', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp('pglite', FAST_PASSWORD_HASHING);
  });
  after(() => t.close());

  test('every answer, success or refusal, carries the headers of a JSON API', async () => {
    const alice = await t.user();
    for (const res of [
      await t.request({ method: 'GET', url: '/api/markets' }),
      await t.request({ method: 'GET', url: '/api/me', headers: alice.auth }),
      await t.request({ method: 'GET', url: '/api/me' }),
      await t.request({ method: 'GET', url: '/no/such/page' }),
      await t.request({ method: 'GET', url: '/api/markets/%zz' }),
    ]) {
      assert.equal(res.headers['x-content-type-options'], 'nosniff', res.body);
      assert.match(String(res.headers['strict-transport-security']), /max-age=\d{7,}/);
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.match(String(res.headers['content-security-policy']), /default-src 'none'/);
      assert.match(String(res.headers['content-security-policy']), /frame-ancestors 'none'/);
    }
  });

  test('responses that carry credentials are Cache-Control: no-store; market reads are not', async () => {
    const body = registration();
    const register = await t.request({ method: 'POST', url: '/api/auth/register', payload: body });
    const loginRes = await t.request({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: body.email, password: body.password },
    });
    const { refreshToken, accessToken } = loginRes.json().data;
    const refresh = await t.request({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken } });
    const key = await t.request({
      method: 'POST',
      url: '/api/me/api-keys',
      headers: { authorization: `Bearer ${accessToken}` },
      payload: { name: 'bot' },
    });
    const failedLogin = await t.request({
      method: 'POST',
      url: '/api/auth/login',
      payload: { email: body.email, password: 'not the password' },
    });
    for (const [name, res, status] of [
      ['register', register, 201],
      ['login', loginRes, 200],
      ['refresh', refresh, 200],
      ['api key', key, 201],
      ['failed login', failedLogin, 401],
    ] as const) {
      assert.equal(res.statusCode, status, `${name}: ${res.body}`);
      assert.equal(res.headers['cache-control'], 'no-store', name);
    }
    const list = await t.request({ method: 'GET', url: '/api/markets' });
    assert.equal(
      list.headers['cache-control'],
      'public, max-age=0, must-revalidate',
      'a public read: kept only if revalidated',
    );
  });

  test('without CORS_ORIGINS no origin is allowed, not even for a preflight', async () => {
    const origin = 'https://evil.example';
    const get = await t.request({ method: 'GET', url: '/api/markets', headers: { origin } });
    assert.equal(get.headers['access-control-allow-origin'], undefined);
    const preflight = await t.request({
      method: 'OPTIONS',
      url: '/api/me',
      headers: {
        origin,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    assert.equal(preflight.headers['access-control-allow-headers'], undefined);
  });

  test('/docs renders with a policy that allows its own script and nothing from elsewhere', async () => {
    const page = await t.request({ method: 'GET', url: '/docs/' });
    assert.equal(page.statusCode, 200);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /script-src 'self' 'unsafe-inline'/);
    assert.match(csp, /connect-src 'self'/);
    assert.doesNotMatch(csp, /https?:/, 'no third-party host is allowed');
    const script = /<script[^>]+src="([^"]+)"/.exec(page.body)?.[1];
    assert.ok(script && !/^https?:/.test(script), `the page loads its script from this server: ${script}`);
    const js = await t.request({ method: 'GET', url: new URL(script, 'http://x/docs/').pathname });
    assert.equal(js.statusCode, 200);
  });
});

describe('CORS for configured origins', () => {
  let t: TestApp;
  before(async () => {
    t = await buildTestApp('pglite', { CORS_ORIGINS: 'https://app.example.com, https://admin.example.com/' });
  });
  after(() => t.close());

  test('a configured origin may call the API with a bearer token; another may not', async () => {
    const preflight = (origin: string) =>
      t.request({
        method: 'OPTIONS',
        url: '/api/me',
        headers: {
          origin,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
      });
    const allowed = await preflight('https://admin.example.com');
    assert.equal(allowed.statusCode, 204);
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://admin.example.com');
    assert.match(String(allowed.headers['access-control-allow-headers']), /authorization/);
    assert.equal(allowed.headers['access-control-allow-credentials'], undefined, 'no cookies: none needed');
    const get = await t.request({
      method: 'GET',
      url: '/api/markets',
      headers: { origin: 'https://app.example.com' },
    });
    assert.equal(get.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.match(String(get.headers['access-control-expose-headers']), /x-request-id/);
    for (const origin of [
      'https://evil.example',
      'https://app.example.com.evil.example',
      'http://app.example.com',
    ]) {
      const res = await preflight(origin);
      assert.equal(res.headers['access-control-allow-origin'], undefined, origin);
    }
  });
});

describe('private documentation and metrics in production', () => {
  let t: TestApp;
  let withSettings: TestApp;
  const METRICS_TOKEN = 'scrape-me-with-this-long-token';
  before(async () => {
    t = await buildTestApp('pglite', { NODE_ENV: 'production' });
    withSettings = await buildTestApp('pglite', {
      NODE_ENV: 'production',
      METRICS_TOKEN,
      DOCS_ENABLED: 'true',
    });
  });
  after(async () => {
    await t.close();
    await withSettings.close();
  });

  test('by default /docs, /openapi.json and /metrics are not served in production', async () => {
    for (const url of ['/docs/', '/openapi.json', '/metrics']) {
      const res = await t.request({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().code, 'NOT_FOUND');
    }
    assert.equal((await t.request({ method: 'GET', url: '/healthz' })).statusCode, 200);
  });

  test('METRICS_TOKEN serves /metrics to a scraper with that bearer token only; DOCS_ENABLED serves the docs', async () => {
    const scrape = (authorization?: string) =>
      withSettings.request({
        method: 'GET',
        url: '/metrics',
        headers: authorization ? { authorization } : {},
      });
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${METRICS_TOKEN}x`, METRICS_TOKEN]) {
      const res = await scrape(authorization);
      assert.equal(res.statusCode, 401, String(authorization));
      assert.equal(res.json().code, 'UNAUTHORIZED');
    }
    const ok = await scrape(`Bearer ${METRICS_TOKEN}`);
    assert.equal(ok.statusCode, 200);
    assert.match(ok.body, /http_requests_total/);
    assert.equal((await withSettings.request({ method: 'GET', url: '/openapi.json' })).statusCode, 200);
    assert.equal((await withSettings.request({ method: 'GET', url: '/docs/' })).statusCode, 200);
  });
});
