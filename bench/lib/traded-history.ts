import { type Kysely, sql } from 'kysely';
import type { DB, Outcome } from '../../src/db/schema.ts';
import { quoteBuy } from '../../src/modules/trading/trade-execution.ts';

export interface TradedHistory {
  trades: number;
  /** Cents traded. */
  volume: number;
}

/** A small deterministic PRNG (mulberry32): the same history on every run. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Fills an existing market (created through the API, untraded) with `count` buys spread evenly,
 * with jitter, over [from, to), written straight into the ledger in one transaction as the
 * trade path would have left it: each buy priced by the trade's own quoteBuy against the book so
 * far, the market's shares, probability, volume and escrow moved by the sum, each trader's
 * balance debited what they paid, one position per trader and outcome. Money is conserved, so
 * the admin ledger's difference stays 0. Traders lean against the price (a buyer of YES is more
 * likely when YES is cheap), which keeps the probability wandering around the middle.
 */
export async function seedTradedHistory(
  db: Kysely<DB>,
  options: { marketId: string; traderIds: string[]; from: Date; to: Date; count: number; seed?: number },
): Promise<TradedHistory> {
  const next = random(options.seed ?? 13);
  const span = options.to.getTime() - options.from.getTime();
  return db.transaction().execute(async (trx) => {
    const market = await trx
      .selectFrom('markets')
      .select(['shares', 'liquidity'])
      .where('id', '=', options.marketId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (market.shares.some((x) => x !== 0)) throw new Error('seedTradedHistory wants an untraded market');
    const book = { yesShares: 0, noShares: 0, liquidity: market.liquidity };
    const rows: {
      user: string;
      outcome: Outcome;
      amount: number;
      shares: number;
      before: number;
      after: number;
      at: string;
    }[] = [];
    const spent = new Map<string, number>();
    const positions = new Map<string, { user: string; outcome: Outcome; shares: number; cents: number }>();
    let probability = 0.5;
    for (let i = 0; i < options.count; i++) {
      const outcome: Outcome = next() < 1 - probability ? 'YES' : 'NO';
      const amount = 100 * (1 + Math.floor(next() * 20));
      const user = options.traderIds[Math.floor(next() * options.traderIds.length)]!;
      const quote = quoteBuy(
        { shares: [book.yesShares, book.noShares], liquidity: book.liquidity },
        outcome,
        amount,
      );
      if (quote.shares <= 0) continue;
      if (outcome === 'YES') book.yesShares += quote.shares;
      else book.noShares += quote.shares;
      probability = quote.probability;
      const at = options.from.getTime() + Math.floor(((i + next()) / options.count) * span);
      rows.push({
        user,
        outcome,
        amount,
        shares: quote.shares,
        before: quote.before,
        after: quote.after,
        at: new Date(at).toISOString(),
      });
      spent.set(user, (spent.get(user) ?? 0) + amount);
      const key = `${user}:${outcome}`;
      const position = positions.get(key) ?? { user, outcome, shares: 0, cents: 0 };
      position.shares += quote.shares;
      position.cents += amount;
      positions.set(key, position);
    }
    const volume = rows.reduce((sum, r) => sum + r.amount, 0);
    for (let start = 0; start < rows.length; start += 5000) {
      const batch = rows.slice(start, start + 5000);
      const column = <T>(get: (r: (typeof rows)[number]) => T) => batch.map(get);
      await sql`
        insert into trades (market_id, user_id, outcome, answer_index, side, amount, shares, probability_before,
                            probability_after, created_at)
        select ${options.marketId}::uuid, user_id, outcome, case outcome when 'YES' then 0 else 1 end, 'buy', amount, shares, probability_before,
               probability_after, created_at
        from unnest(${column((r) => r.user)}::uuid[], ${column((r) => r.outcome)}::text[],
                    ${column((r) => r.amount)}::int8[], ${column((r) => r.shares)}::int8[],
                    ${column((r) => r.before)}::float8[], ${column((r) => r.after)}::float8[],
                    ${column((r) => r.at)}::timestamptz[])
          as t(user_id, outcome, amount, shares, probability_before, probability_after, created_at)
      `.execute(trx);
    }
    const held = [...positions.values()];
    await sql`
      insert into positions (market_id, user_id, outcome, answer_index, shares, cost_basis, net_spent, updated_at)
      select ${options.marketId}::uuid, user_id, outcome, case outcome when 'YES' then 0 else 1 end, shares, cents, cents, ${options.to.toISOString()}::timestamptz
      from unnest(${held.map((p) => p.user)}::uuid[], ${held.map((p) => p.outcome)}::text[],
                  ${held.map((p) => p.shares)}::int8[], ${held.map((p) => p.cents)}::int8[])
        as t(user_id, outcome, shares, cents)
    `.execute(trx);
    await sql`
      update users set balance = users.balance - s.cents
      from unnest(${[...spent.keys()]}::uuid[], ${[...spent.values()]}::int8[]) as s(id, cents)
      where users.id = s.id
    `.execute(trx);
    // created_at is not writable through the typed schema; the market opened before its first trade.
    await sql`
      update markets
      set shares = array[${book.yesShares}, ${book.noShares}]::int8[], probability = ${probability},
          volume = volume + ${volume}, escrow = escrow + ${volume},
          created_at = ${new Date(options.from.getTime() - 3_600_000).toISOString()}::timestamptz
      where id = ${options.marketId}
    `.execute(trx);
    await sql`analyze trades`.execute(trx);
    return { trades: rows.length, volume };
  });
}
