import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Config } from '../src/config/env.ts';
import { loginEmailRateLimit, loginRateLimit, tradeRateLimit } from '../src/plugins/rate-limit.ts';
import { type Cluster, type Instance, startInstances } from './helpers/instances.ts';

type Env = Partial<Record<keyof Config, string>>;

/** One instance with a login and a trade route wearing the presets, as the real routes will. */
function useInstance(env: Env) {
  const state = {} as { cluster: Cluster; app: Instance };
  before(async () => {
    state.cluster = await startInstances('pglite', 1, env, (app, config) => {
      app.post(
        '/test/login',
        { config: { rateLimit: loginRateLimit(config) }, preHandler: loginEmailRateLimit(app, config) },
        async () => ({ success: true }),
      );
      app.post('/test/trade', { config: { rateLimit: tradeRateLimit(config) } }, async () => ({
        success: true,
      }));
    });
    state.app = state.cluster.instances[0]!;
  });
  after(() => state.cluster.close());
  return state;
}

/** Sends the requests one after the other and returns their statuses. */
const statuses = async (n: number, send: (i: number) => Promise<LightMyRequestResponse>) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await send(i)).statusCode);
  return out;
};
const ok = (n: number) => Array.from({ length: n }, () => 200);

// Each test below uses its own client addresses or users, so budgets do not leak between tests.
describe('rate limiting with the memory store (5/min, login 3/min, trades 2/min)', () => {
  const s = useInstance({
    RATE_LIMIT_PER_MINUTE: '5',
    LOGIN_RATE_LIMIT_PER_MINUTE: '3',
    TRADE_RATE_LIMIT_PER_MINUTE: '2',
    TRUST_PROXY: '10.0.0.0/8',
  });
  const get = (url: string, options: Omit<InjectOptions, 'url'> = {}) =>
    s.app.app.inject({ method: 'GET', url, ...options });
  const post = (url: string, payload: object, options: Omit<InjectOptions, 'url'> = {}) =>
    s.app.app.inject({ method: 'POST', url, payload, ...options });

  test('a client gets its budget, then a 429 envelope with Retry-After and RateLimit headers', async () => {
    const remoteAddress = '192.0.2.1';
    for (let remaining = 4; remaining >= 0; remaining--) {
      const res = await get('/api/markets', { remoteAddress });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['ratelimit-limit'], '5');
      assert.equal(res.headers['ratelimit-remaining'], String(remaining));
      assert.ok(Number(res.headers['ratelimit-reset']) > 0);
    }
    const limited = await get('/api/markets', { remoteAddress });
    assert.equal(limited.statusCode, 429);
    const retryAfter = Number(limited.headers['retry-after']);
    assert.ok(retryAfter > 0 && retryAfter <= 60, `retry-after ${retryAfter}`);
    assert.equal(limited.headers['ratelimit-limit'], '5');
    assert.equal(limited.headers['ratelimit-remaining'], '0');
    const envelope = limited.json();
    assert.equal(envelope.success, false);
    assert.equal(envelope.code, 'RATE_LIMITED');
    assert.match(envelope.error, /retry in/);
    assert.equal(envelope.requestId, limited.headers['x-request-id']);
  });

  test('X-Forwarded-For from a peer that is not a trusted proxy is ignored, however it changes', async () => {
    const spoofed = await statuses(8, (i) =>
      get('/api/markets', {
        remoteAddress: '192.0.2.10',
        headers: { 'x-forwarded-for': `198.51.100.${i}, 10.1.1.${i}` },
      }),
    );
    assert.deepEqual(spoofed, [...ok(5), 429, 429, 429]);
    const viaProxy = await get('/api/markets', {
      remoteAddress: '10.1.1.1',
      headers: { 'x-forwarded-for': '192.0.2.10' },
    });
    assert.equal(viaProxy.statusCode, 429, 'the same client through the trusted proxy has the same budget');
  });

  test('behind a trusted proxy each forwarded client has its own budget', async () => {
    const from = (ip: string) =>
      get('/api/markets', { remoteAddress: '10.2.2.2', headers: { 'x-forwarded-for': ip } });
    assert.deepEqual(await statuses(6, () => from('203.0.113.7')), [...ok(5), 429]);
    assert.equal((await from('203.0.113.8')).statusCode, 200);
  });

  test('signed-in users are limited per user, not per IP; a forged token counts against the IP', async () => {
    const remoteAddress = '192.0.2.20';
    const alice = await s.cluster.user();
    const bob = await s.cluster.user();
    assert.deepEqual(await statuses(6, () => get('/api/markets', { remoteAddress })), [...ok(5), 429]);
    const asAlice = () => get('/api/markets', { remoteAddress, headers: alice.auth });
    assert.deepEqual(await statuses(6, asAlice), [...ok(5), 429]);
    assert.equal((await get('/api/markets', { remoteAddress, headers: bob.auth })).statusCode, 200);
    const forged = { authorization: `${alice.auth.authorization.slice(0, -4)}AAAA` };
    assert.equal(
      (await get('/api/markets', { remoteAddress: '192.0.2.21', headers: forged })).statusCode,
      200,
    );
    assert.equal((await get('/api/markets', { remoteAddress, headers: forged })).statusCode, 429);
  });

  test('API-key callers are limited per key owner from any address; an invalid key counts against the IP', async () => {
    const carol = await s.cluster.user();
    const created = await post('/api/me/api-keys', { name: 'bot' }, { headers: carol.auth }); // 1 of 5
    assert.equal(created.statusCode, 201);
    const { key } = created.json().data;
    const byHeader = (remoteAddress: string) =>
      get('/api/markets', { remoteAddress, headers: { 'x-api-key': key } });
    assert.deepEqual(await statuses(5, (i) => byHeader(`192.0.2.${60 + i}`)), [...ok(4), 429]);
    const asBearer = { authorization: `Bearer ${key}` };
    assert.equal(
      (await get('/api/markets', { remoteAddress: '192.0.2.70', headers: asBearer })).statusCode,
      429,
    );

    const unknownKey = { 'x-api-key': `mk_live_${'A'.repeat(43)}` };
    const remoteAddress = '192.0.2.71';
    assert.deepEqual(await statuses(6, () => get('/api/markets', { remoteAddress, headers: unknownKey })), [
      ...ok(5),
      429,
    ]);
    assert.equal((await get('/api/markets', { remoteAddress })).statusCode, 429);
    assert.equal(
      (await get('/api/markets', { remoteAddress: '192.0.2.72', headers: unknownKey })).statusCode,
      200,
    );
  });

  test('/healthz, /readyz and /metrics are never limited', async () => {
    const remoteAddress = '192.0.2.30';
    await statuses(6, () => get('/api/markets', { remoteAddress }));
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      assert.deepEqual(await statuses(8, () => get(path, { remoteAddress })), ok(8), path);
      assert.equal((await get(path, { remoteAddress })).headers['ratelimit-limit'], undefined, path);
    }
  });

  test('login attempts are limited per IP, whatever email they name', async () => {
    const attempts = await statuses(5, (i) =>
      post('/test/login', { email: `victim${i}@example.com` }, { remoteAddress: '192.0.2.40' }),
    );
    assert.deepEqual(attempts, [200, 200, 200, 429, 429]);
    const res = await post('/test/login', { email: 'x@example.com' }, { remoteAddress: '192.0.2.40' });
    assert.equal(res.headers['ratelimit-limit'], '3');
    assert.equal(res.json().code, 'RATE_LIMITED');
  });

  test('login attempts are limited per email, in any case, across many IPs', async () => {
    const viaProxy = (email: string, ip: string) =>
      post('/test/login', { email }, { remoteAddress: '10.3.3.3', headers: { 'x-forwarded-for': ip } });
    const emails = ['Target@Example.com', 'target@example.com', ' TARGET@example.com', 'target@EXAMPLE.com'];
    const attempts = await statuses(4, (i) => viaProxy(emails[i]!, `198.18.0.${i + 1}`));
    assert.deepEqual(attempts, [200, 200, 200, 429]);
    const limited = await viaProxy('target@example.com', '198.18.0.50');
    assert.equal(limited.statusCode, 429);
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.equal(limited.json().code, 'RATE_LIMITED');
    assert.equal((await viaProxy('someone@example.com', '198.18.0.99')).statusCode, 200);
  });

  test('trades have their own, stricter per-user budget, apart from other routes', async () => {
    const alice = await s.cluster.user();
    const bob = await s.cluster.user();
    const trade = (auth: Record<string, string>) => post('/test/trade', {}, { headers: auth });
    assert.deepEqual(await statuses(3, () => trade(alice.auth)), [200, 200, 429]);
    assert.equal((await trade(bob.auth)).statusCode, 200);
    assert.equal((await get('/api/markets', { headers: alice.auth })).statusCode, 200);
  });
});

describe('rate limiting with stricter limits turned off (4/min, login 0, trades 0)', () => {
  const s = useInstance({
    RATE_LIMIT_PER_MINUTE: '4',
    LOGIN_RATE_LIMIT_PER_MINUTE: '0',
    TRADE_RATE_LIMIT_PER_MINUTE: '0',
  });

  test('trades and logins fall back to the general limit', async () => {
    const alice = await s.cluster.user();
    const trades = await statuses(5, () =>
      s.app.app.inject({ method: 'POST', url: '/test/trade', payload: {}, headers: alice.auth }),
    );
    assert.deepEqual(trades, [...ok(4), 429]);
    const logins = await statuses(5, () =>
      s.app.app.inject({ method: 'POST', url: '/test/login', payload: { email: 'a@example.com' } }),
    );
    assert.deepEqual(logins, [...ok(4), 429]);
  });
});

describe('rate limiting turned off (RATE_LIMIT_PER_MINUTE=0, as benchmarks run)', () => {
  const s = useInstance({ RATE_LIMIT_PER_MINUTE: '0' });

  test('no request is limited and no RateLimit headers are sent', async () => {
    const all = await statuses(30, () => s.app.app.inject({ method: 'GET', url: '/api/markets' }));
    assert.deepEqual(all, ok(30));
    const res = await s.app.app.inject({ method: 'GET', url: '/api/markets' });
    assert.equal(res.headers['ratelimit-limit'], undefined);
  });
});
