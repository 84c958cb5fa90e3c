import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { FAST_PASSWORD_HASHING, registration } from './helpers/accounts.ts';
import { type Cluster, type Instance, startInstances } from './helpers/instances.ts';

/** The 20-bit address space of 198.18.0.0/15 (RFC 2544, never routed): `n` distinct client IPs. */
const address = (n: number) => `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;

function useInstance(env: Record<string, string>) {
  const state = {} as { cluster: Cluster; app: Instance };
  before(async () => {
    state.cluster = await startInstances('pglite', 1, { ...FAST_PASSWORD_HASHING, ...env });
    state.app = state.cluster.instances[0]!;
  });
  after(() => state.cluster.close());
  return state;
}

async function registered(app: Instance) {
  const body = registration();
  const res = await app.app.inject({ method: 'POST', url: '/api/auth/register', payload: body });
  assert.equal(res.statusCode, 201, res.body);
  return body;
}

const login = (app: Instance, email: string, password: string, remoteAddress: string) =>
  app.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password }, remoteAddress });

/** Locks `email` by failed logins from one address; the right password from elsewhere is then refused. */
async function lockLogin(app: Instance, email: string, limit: number): Promise<LightMyRequestResponse> {
  for (let i = 0; i < limit; i++) {
    assert.equal((await login(app, email, 'wrong password!', '192.0.2.200')).statusCode, 401);
  }
  return login(app, email, 'wrong password!', '192.0.2.200');
}

describe('rate-limit state that an attacker cannot flush (memory store, defaults)', () => {
  const s = useInstance({ LOGIN_RATE_LIMIT_PER_MINUTE: '3', RATE_LIMIT_PER_MINUTE: '100' });

  test('10,500 requests from distinct addresses do not unlock a locked login within its minute', async () => {
    const victim = await registered(s.app);
    assert.equal((await lockLogin(s.app, victim.email, 3)).statusCode, 429);
    // Each limiter has its own table: the general limiter's new clients cannot push the login's out.
    for (let n = 0; n < 10_500; n += 250) {
      const batch = await Promise.all(
        Array.from({ length: 250 }, (_, i) =>
          s.app.app.inject({ method: 'GET', url: '/api/markets?limit=1', remoteAddress: address(n + i) }),
        ),
      );
      assert.equal(batch[0]!.headers['ratelimit-remaining'], '99', 'each address is counted by the limiter');
    }
    const right = await login(s.app, victim.email, victim.password, '192.0.2.201');
    assert.equal(right.statusCode, 429, 'the right password is still refused within the minute');
    assert.equal(right.json().code, 'RATE_LIMITED');
  });
});

describe('rate-limit tables when full (RATE_LIMIT_MAX_CLIENTS=100)', () => {
  const s = useInstance({
    LOGIN_RATE_LIMIT_PER_MINUTE: '3',
    RATE_LIMIT_PER_MINUTE: '100',
    RATE_LIMIT_MAX_CLIENTS: '100',
  });

  test('a full table refuses new clients instead of evicting live counters; known clients keep their budget', async () => {
    const victim = await registered(s.app);
    const known = '192.0.2.210';
    assert.equal(
      (await s.app.app.inject({ method: 'GET', url: '/api/markets', remoteAddress: known })).statusCode,
      200,
    );
    assert.equal((await lockLogin(s.app, victim.email, 3)).statusCode, 429);
    // 150 logins naming 150 emails from 150 addresses: both login tables overflow.
    const flood: number[] = [];
    for (let i = 0; i < 150; i++) {
      flood.push((await login(s.app, `nobody${i}@example.com`, 'guess', address(i))).statusCode);
    }
    assert.ok(
      flood.slice(0, 90).every((status) => status === 401),
      'the first ones are served',
    );
    assert.ok(
      flood.slice(-40).every((status) => status === 429),
      'new clients wait once the table is full',
    );

    const right = await login(s.app, victim.email, victim.password, '192.0.2.211');
    assert.equal(right.statusCode, 429, 'the locked login stays locked');
    assert.ok(Number(right.headers['retry-after']) <= 60);
    const again = await s.app.app.inject({ method: 'GET', url: '/api/markets', remoteAddress: known });
    assert.equal(again.statusCode, 200, 'a client already counted is still served');
    assert.equal(again.headers['ratelimit-remaining'], '98');
    const warnings = s.app.logs.filter((l) => String(l.msg).startsWith('rate limiter: memory table full'));
    assert.ok(warnings.length >= 1 && warnings.length <= 2, `${warnings.length} warnings`);
  });
});
