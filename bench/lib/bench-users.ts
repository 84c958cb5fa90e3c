import type { Kysely } from 'kysely';
import type { DB } from '../../src/db/schema.ts';
import { createTokenService } from '../../src/modules/auth/tokens.ts';

export interface BenchUsers {
  adminId: string;
  adminAuth: string;
  traderIds: string[];
  /** `Bearer …` for each trader, in the order of `traderIds`. */
  traderAuths: string[];
}

/**
 * An admin and `traders` users inserted straight into the bench's database, each with a large
 * balance (the insert trigger records it as granted, so the ledger still balances), and a
 * token for each signed with the app's secret.
 */
export async function createBenchUsers(
  db: Kysely<DB>,
  jwtSecret: string,
  { traders, label }: { traders: number; label: string },
): Promise<BenchUsers> {
  const tokens = createTokenService(jwtSecret, 3600);
  const stamp = `${label}-${Date.now()}`;
  const admin = await db
    .insertInto('users')
    .values({
      email: `bench-admin-${stamp}@example.com`,
      name: 'Bench admin',
      role: 'admin',
      balance: 100_000_000,
    })
    .returning(['id', 'email'])
    .executeTakeFirstOrThrow();
  const rows = await db
    .insertInto('users')
    .values(
      Array.from({ length: traders }, (_, i) => ({
        email: `bench-trader-${stamp}-${i}@example.com`,
        name: `Trader ${i}`,
        role: 'user' as const,
        balance: 100_000_000,
      })),
    )
    .returning(['id', 'email'])
    .execute();
  return {
    adminId: admin.id,
    adminAuth: `Bearer ${await tokens.sign({ sub: admin.id, email: admin.email, role: 'admin' })}`,
    traderIds: rows.map((r) => r.id),
    traderAuths: await Promise.all(
      rows.map(async (u) => `Bearer ${await tokens.sign({ sub: u.id, email: u.email, role: 'user' })}`),
    ),
  };
}

/**
 * Creates `count` active markets through the API (so subsidy and escrow are the app's own):
 * binary, or multiple-choice with `answers`.
 */
export async function createBenchMarkets(
  url: string,
  adminAuth: string,
  {
    count,
    label,
    liquidity = 1000,
    answers,
  }: { count: number; label: string; liquidity?: number; answers?: string[] },
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${url}/api/markets`, {
      method: 'POST',
      headers: { authorization: adminAuth, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: `Bench ${label} market ${Date.now()} number ${i}`,
        category: 'bench',
        closesAt: new Date(Date.now() + 7 * 86_400_000).toISOString(),
        liquidity,
        ...(answers && { answers }),
      }),
    });
    if (res.status !== 201) throw new Error(`create market answered ${res.status}: ${await res.text()}`);
    ids.push(((await res.json()) as { data: { id: string } }).data.id);
  }
  return ids;
}

/** The admin ledger's check: granted − (balances + escrow), 0 when no cent was lost or made. */
export async function ledgerDifference(url: string, adminAuth: string): Promise<number> {
  const res = await fetch(`${url}/api/admin/ledger`, { headers: { authorization: adminAuth } });
  if (!res.ok) throw new Error(`GET /api/admin/ledger answered ${res.status}`);
  return ((await res.json()) as { data: { difference: number } }).data.difference;
}
