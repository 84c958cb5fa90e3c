import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Role } from '../../src/db/schema.ts';
import { createTokenService } from '../../src/modules/auth/tokens.ts';

/** Runs SQL against the service's database from the test (a pool, or the PGlite socket). */
export type Query = (text: string, values?: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;

export interface LoadUser {
  id: string;
  auth: { authorization: string };
}

let userCounter = 0;

/** Users made in the database directly, with tokens signed by the service's secret. */
export async function makeUsers(query: Query, jwtSecret: string, count: number, role: Role = 'user') {
  const tokens = createTokenService(jwtSecret, 3600);
  const users: LoadUser[] = [];
  for (let i = 0; i < count; i++) {
    const email = `load-${process.pid}-${++userCounter}-${Date.now()}@example.com`;
    const { rows } = await query('insert into users (email, name, role) values ($1, $2, $3) returning id', [
      email,
      `Load ${userCounter}`,
      role,
    ]);
    const id = String(rows[0]!.id);
    users.push({ id, auth: { authorization: `Bearer ${await tokens.sign({ sub: id, email, role })}` } });
  }
  return users;
}

/** One answer (or its absence) as the client saw it. */
export interface Sample {
  kind: 'trade' | 'read';
  startedAt: number;
  endedAt: number;
  /** HTTP status, or how the exchange failed without one. */
  status: number | 'reset' | 'timeout';
  body?: { success?: boolean; code?: string; error?: string; requestId?: string; data?: unknown };
  detail?: string;
}

/**
 * Concurrent clients, one per user, each trading 1 unit on "its" market then reading its
 * positions, in a loop until stopped. Every answer is recorded; nothing is retried.
 */
export function tradeLoad(
  baseUrl: string,
  users: LoadUser[],
  marketIds: string[],
  requestTimeoutMs = 20_000,
) {
  const samples: Sample[] = [];
  let running = true;
  const call = async (kind: Sample['kind'], path: string, init: RequestInit) => {
    const startedAt = Date.now();
    try {
      const res = await fetch(baseUrl + path, { ...init, signal: AbortSignal.timeout(requestTimeoutMs) });
      const text = await res.text();
      let body: Sample['body'];
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      samples.push({
        kind,
        startedAt,
        endedAt: Date.now(),
        status: res.status,
        body,
        detail: text.slice(0, 300),
      });
    } catch (error) {
      const e = error as Error & { cause?: { code?: string; message?: string } };
      samples.push({
        kind,
        startedAt,
        endedAt: Date.now(),
        status: e.name === 'TimeoutError' ? 'timeout' : 'reset',
        detail: `${e.message}: ${e.cause?.code ?? ''} ${e.cause?.message ?? ''}`,
      });
    }
  };
  const loops = users.map(async (user, i) => {
    const marketId = marketIds[i % marketIds.length]!;
    for (let n = 0; running; n++) {
      await call('trade', `/api/markets/${marketId}/trades`, {
        method: 'POST',
        headers: { ...user.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ outcome: n % 2 ? 'NO' : 'YES', side: 'buy', amount: 1 }),
      });
      if (!running) break;
      await call('read', '/api/me/positions', { headers: user.auth });
      // Keep the load real but leave the 2 shared cores some room.
      await sleep(5);
    }
  });
  return {
    samples,
    async stop() {
      running = false;
      await Promise.all(loops);
      return samples;
    },
  };
}

export const percentile = (values: number[], p: number) => {
  if (values.length === 0) return Number.NaN;
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

/** Ids of the trades the service acknowledged with 201. */
export const acknowledgedTradeIds = (samples: Sample[]) =>
  samples
    .filter((s) => s.kind === 'trade' && s.status === 201)
    .map((s) => (s.body!.data as { trade: { id: string } }).trade.id);

/**
 * Money and shares add up: granted = balances + escrow; every market's volume, shares and escrow
 * are the sums of its trades (buys only here) over its subsidy; every user's positions and balance
 * are the sums of their trades. A trade half written (a ledger line without its book or balance
 * update, or the reverse) breaks one of these.
 */
export async function assertBooksBalance(query: Query, traders: LoadUser[], acknowledged: string[]) {
  const { rows: totals } = await query(`select
      (select coalesce(sum(granted), 0) from users)::text as granted,
      (select coalesce(sum(balance), 0) from users)::text as balances,
      (select coalesce(sum(escrow), 0) from markets)::text as escrow`);
  const { granted, balances, escrow } = totals[0] as Record<string, string>;
  assert.equal(Number(granted) - Number(balances) - Number(escrow), 0, 'ledger difference');

  const { rows: books } =
    await query(`select m.id, m.volume::text, m.shares[1]::text as yes_shares, m.shares[2]::text as no_shares,
      m.escrow::text, m.subsidy::text,
      coalesce(sum(t.amount), 0)::text as spent,
      coalesce(sum(t.shares) filter (where t.outcome = 'YES'), 0)::text as yes,
      coalesce(sum(t.shares) filter (where t.outcome = 'NO'), 0)::text as no
    from markets m left join trades t on t.market_id = m.id group by m.id`);
  for (const b of books) {
    assert.equal(b.volume, b.spent, `market ${b.id}: volume = sum of its trades`);
    assert.equal(b.yes_shares, b.yes, `market ${b.id}: YES shares = sum of its trades`);
    assert.equal(b.no_shares, b.no, `market ${b.id}: NO shares = sum of its trades`);
    assert.equal(Number(b.escrow), Number(b.subsidy) + Number(b.spent), `market ${b.id}: escrow`);
  }

  const { rows: people } = await query(
    `select u.id, u.balance::text, u.granted::text,
       (select coalesce(sum(amount), 0) from trades t where t.user_id = u.id)::text as spent,
       (select count(*) from positions p where p.user_id = u.id and p.shares <>
          (select coalesce(sum(shares), 0) from trades t
           where t.user_id = u.id and t.market_id = p.market_id and t.outcome = p.outcome))::int as bad_positions
     from users u where u.id = any($1::uuid[])`,
    [traders.map((u) => u.id)],
  );
  assert.equal(people.length, traders.length);
  for (const p of people) {
    assert.equal(Number(p.balance), Number(p.granted) - Number(p.spent), `user ${p.id}: balance`);
    assert.equal(p.bad_positions, 0, `user ${p.id}: positions = sums of their trades`);
  }

  const { rows: found } = await query('select count(*)::int as n from trades where id = any($1::uuid[])', [
    acknowledged,
  ]);
  assert.equal(found[0]!.n, acknowledged.length, 'every acknowledged trade is in the ledger');
}
