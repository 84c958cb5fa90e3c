import assert from 'node:assert/strict';
import type { TestApp } from './build-app.ts';
import { marketBody } from './factories.ts';

export type TestUser = Awaited<ReturnType<TestApp['user']>>;

export async function createMarket(t: TestApp, creator: TestUser, overrides: Record<string, unknown> = {}) {
  const res = await t.request({
    method: 'POST',
    url: '/api/markets',
    headers: creator.auth,
    payload: marketBody(overrides),
  });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().data;
}

export function trade(
  t: TestApp,
  user: TestUser,
  marketId: string,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  return t.request({
    method: 'POST',
    url: `/api/markets/${marketId}/trades`,
    headers: { ...user.auth, ...headers },
    payload: body,
  });
}

/** Balance in cents, read from the database (the API shows units). */
export async function balanceOf(t: TestApp, userId: string): Promise<number> {
  const row = await t.database.db
    .selectFrom('users')
    .select('balance')
    .where('id', '=', userId)
    .executeTakeFirstOrThrow();
  return row.balance;
}

export async function ledger(t: TestApp, admin: TestUser) {
  const res = await t.request({ method: 'GET', url: '/api/admin/ledger', headers: admin.auth });
  assert.equal(res.statusCode, 200, res.body);
  return res.json().data as {
    granted: number;
    balances: number;
    escrow: number;
    reservations: number;
    difference: number;
  };
}
