import assert from 'node:assert/strict';
import type { TestApp } from './build-app.ts';

/** argon2id at a cost that keeps a test file quick; production uses PASSWORD_HASH_* defaults. */
export const FAST_PASSWORD_HASHING = {
  PASSWORD_HASH_MEMORY_KIB: '256',
  PASSWORD_HASH_ITERATIONS: '1',
} as const;

let counter = 0;

/** A fresh, valid registration body. */
export function registration(overrides: Record<string, unknown> = {}) {
  counter++;
  return {
    email: `person${counter}-${process.pid}-${Date.now()}@example.com`,
    password: 'correct horse battery staple',
    name: `Person ${counter}`,
    ...overrides,
  };
}

/** Registers and logs in; returns the user, the token pair and ready-made auth headers. */
export async function signUp(t: TestApp, overrides: Record<string, unknown> = {}) {
  const body = registration(overrides);
  const registered = await t.request({ method: 'POST', url: '/api/auth/register', payload: body });
  assert.equal(registered.statusCode, 201, registered.body);
  const tokens = await login(t, body.email, body.password);
  return {
    ...body,
    id: registered.json().data.id as string,
    ...tokens,
    auth: { authorization: `Bearer ${tokens.accessToken}` },
  };
}

export async function login(t: TestApp, email: string, password: string) {
  const res = await t.request({ method: 'POST', url: '/api/auth/login', payload: { email, password } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json().data as { accessToken: string; refreshToken: string; expiresIn: number };
}
