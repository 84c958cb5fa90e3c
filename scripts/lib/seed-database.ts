import { type Kysely, sql, type Transaction } from 'kysely';
import type { DB } from '../../src/db/schema.ts';
import { type SampleBook, type SampleTrade, sampleBook } from './sample-book.ts';
import { type SampleMarket, sampleMarkets, sampleUsers } from './sample-markets.ts';
import { insertTourDeFrance } from './seed-multiple-choice.ts';

export interface SeedOptions {
  markets: number;
  users: number;
  seed: number;
  /** Rows per INSERT statement. */
  batchSize?: number;
  now?: Date;
  onBatch?: (done: number, total: number) => void;
  /** Queues the inserted markets for search indexing, inside the seed's transaction. */
  enqueueIndexing?: (trx: Transaction<DB>, marketIds: string[]) => Promise<unknown>;
}

export interface SeedResult {
  users: number;
  /** Markets inserted; fewer than asked when the same seed already ran (slugs are taken). */
  inserted: number;
  skipped: number;
}

/**
 * Loads sample users and markets in one transaction (all or nothing). Each batch is one
 * `insert … select from unnest(array, array, …)` per table: one statement per batch however many
 * rows, so 100k markets take a few dozen round trips instead of 100k. Tags travel as
 * space-separated strings because unnest cannot return a row's array out of a 2-D array.
 *
 * The money obeys the ledger's rules (sample-book.ts): each market's subsidy, trades, positions
 * and settlement are recorded as the API would have made them, and each sample user is granted,
 * on top of the balance they had, exactly what their sample activity paid in, so granted =
 * balances + escrow holds right after seeding.
 */
export async function seedSampleData(db: Kysely<DB>, options: SeedOptions): Promise<SeedResult> {
  const batchSize = options.batchSize ?? 5000;
  const now = options.now ?? new Date();
  const users = sampleUsers(options.users, options.seed);
  const result = await db.transaction().execute(async (trx) => {
    const rows = await trx
      .insertInto('users')
      .values(users)
      // Keeps existing sample users (and any role an operator gave them); returns their ids.
      .onConflict((oc) =>
        oc.expression(sql`lower(email)`).doUpdateSet({ name: (eb) => eb.ref('users.name') }),
      )
      .returning(['id', 'email'])
      .execute();
    const idByEmail = new Map(rows.map((r) => [r.email, r.id]));
    const userIds = users.map((u) => idByEmail.get(u.email)!);
    const spent = new Map<number, number>();
    const credits = new Map<number, number>();

    let inserted = 0;
    let done = 0;
    let batch: SampleMarket[] = [];
    const flush = async () => {
      const books = batch.map((m) => sampleBook(m, users.length, now));
      const ids = await insertBatch(trx, batch, books, userIds);
      const kept = batch.flatMap((m, i) =>
        ids.has(m.slug) ? [{ id: ids.get(m.slug)!, book: books[i]! }] : [],
      );
      await insertTrades(trx, kept, userIds);
      for (const { book } of kept) {
        for (const [user, cents] of book.spent) spent.set(user, (spent.get(user) ?? 0) + cents);
        for (const [user, cents] of book.credits) credits.set(user, (credits.get(user) ?? 0) + cents);
      }
      if (kept.length > 0)
        await options.enqueueIndexing?.(
          trx,
          kept.map((k) => k.id),
        );
      inserted += kept.length;
      done += batch.length;
      batch = [];
      options.onBatch?.(done, options.markets);
    };
    for (const market of sampleMarkets(options.markets, users.length, { ...options, now })) {
      batch.push(market);
      if (batch.length === batchSize) await flush();
    }
    if (batch.length > 0) await flush();
    // One multiple-choice market beside the binary sample, funded by the first sample user.
    if (options.markets > 0 && userIds.length > 0) {
      const paid = await insertTourDeFrance(trx, userIds[0]!);
      // Not counted in `inserted` (the sample's own count); its search document is kept by trigger.
      if (paid > 0) spent.set(0, (spent.get(0) ?? 0) + paid);
    }
    await grant(trx, userIds, spent, credits);
    return { users: users.length, inserted, skipped: options.markets - inserted };
  });
  // Fresh planner statistics: without them the first list queries may plan as for an empty table.
  await sql`analyze markets, users, trades, positions`.execute(db);
  return result;
}

/** Inserts the markets whose slug is free; returns their ids by slug. */
async function insertBatch(
  db: Kysely<DB>,
  batch: SampleMarket[],
  books: SampleBook[],
  userIds: string[],
): Promise<Map<string, string>> {
  const column = <T>(get: (m: SampleMarket, book: SampleBook) => T) => batch.map((m, i) => get(m, books[i]!));
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  const { rows } = await sql<{ id: string; slug: string }>`
    insert into markets (slug, name, description, category, tags, status, closes_at, creator_id,
                         probability, volume, outcome, resolved_at, created_at, updated_at,
                         liquidity, shares, subsidy, escrow, close_announced_at)
    select slug, name, description, category, string_to_array(tags, ' '), status, closes_at, creator_id,
           probability, volume, outcome, resolved_at, created_at, updated_at,
           liquidity, array[yes_shares, no_shares], subsidy, escrow,
           -- A sample market that closed in the past closed before the service watched: no market.closed for it.
           case when status = 'active' and closes_at <= now() then closes_at end
    from unnest(
      ${column((m) => m.slug)}::text[], ${column((m) => m.name)}::text[],
      ${column((m) => m.description)}::text[], ${column((m) => m.category)}::text[],
      ${column((m) => m.tags.join(' '))}::text[], ${column((m) => m.status)}::text[],
      ${column((m) => iso(m.closesAt))}::timestamptz[], ${column((m) => userIds[m.creator]!)}::uuid[],
      ${column((_, b) => b.probability)}::float8[], ${column((_, b) => b.volume)}::int8[],
      ${column((m) => m.outcome)}::text[], ${column((m) => iso(m.resolvedAt))}::timestamptz[],
      ${column((m) => iso(m.createdAt))}::timestamptz[], ${column((m) => iso(m.updatedAt))}::timestamptz[],
      ${column((_, b) => b.liquidity)}::int8[], ${column((_, b) => b.yesShares)}::int8[],
      ${column((_, b) => b.noShares)}::int8[], ${column((_, b) => b.subsidy)}::int8[],
      ${column((_, b) => b.escrow)}::int8[]
    ) as t(slug, name, description, category, tags, status, closes_at, creator_id,
           probability, volume, outcome, resolved_at, created_at, updated_at,
           liquidity, yes_shares, no_shares, subsidy, escrow)
    on conflict (slug) do nothing
    returning id, slug
  `.execute(db);
  // Every market has its answers: a binary one's are YES (0) and NO (1).
  const ids = rows.map((r) => r.id);
  if (ids.length > 0)
    await sql`insert into market_answers (market_id, index, text)
      select id, i, (array['YES', 'NO'])[i + 1] from unnest(${ids}::uuid[]) as id, generate_series(0, 1) as i`.execute(
      db,
    );
  return new Map(rows.map((r) => [r.slug, r.id]));
}

/** The inserted markets' ledger lines and positions (one position per trade: each buys its own side). */
async function insertTrades(db: Kysely<DB>, markets: { id: string; book: SampleBook }[], userIds: string[]) {
  const trades = markets.flatMap(({ id, book }) => book.trades.map((t) => ({ id, t })));
  if (trades.length === 0) return;
  const column = <T>(get: (t: SampleTrade, marketId: string) => T) => trades.map(({ id, t }) => get(t, id));
  await sql`
    insert into trades (market_id, user_id, outcome, answer_index, side, amount, shares, probability_before,
                        probability_after, created_at)
    select market_id, user_id, outcome, case outcome when 'YES' then 0 else 1 end, 'buy', amount, shares, probability_before, probability_after, created_at
    from unnest(
      ${column((_, id) => id)}::uuid[], ${column((t) => userIds[t.user]!)}::uuid[],
      ${column((t) => t.outcome)}::text[], ${column((t) => t.amount)}::int8[], ${column((t) => t.shares)}::int8[],
      ${column((t) => t.probabilityBefore)}::float8[], ${column((t) => t.probabilityAfter)}::float8[],
      ${column((t) => t.at.toISOString())}::timestamptz[]
    ) as t(market_id, user_id, outcome, amount, shares, probability_before, probability_after, created_at)
  `.execute(db);
  await sql`
    insert into positions (market_id, user_id, outcome, answer_index, shares, cost_basis, net_spent, payout, updated_at)
    select market_id, user_id, outcome, case outcome when 'YES' then 0 else 1 end, shares, amount, amount, payout, updated_at
    from unnest(
      ${column((_, id) => id)}::uuid[], ${column((t) => userIds[t.user]!)}::uuid[],
      ${column((t) => t.outcome)}::text[], ${column((t) => t.shares)}::int8[], ${column((t) => t.amount)}::int8[],
      ${column((t) => t.payout)}::int8[], ${column((t) => t.at.toISOString())}::timestamptz[]
    ) as t(market_id, user_id, outcome, shares, amount, payout, updated_at)
  `.execute(db);
}

/**
 * Each sample user is granted what their sample activity paid in (subsidies and buys) and
 * receives what settlement paid them: granted and balance move together, so the ledger balances.
 */
async function grant(
  db: Kysely<DB>,
  userIds: string[],
  spent: Map<number, number>,
  credits: Map<number, number>,
) {
  const users = [...new Set([...spent.keys(), ...credits.keys()])];
  if (users.length === 0) return;
  await sql`
    update users set granted = users.granted + g.spent, balance = users.balance + g.received
    from unnest(${users.map((u) => userIds[u]!)}::uuid[], ${users.map((u) => spent.get(u) ?? 0)}::int8[],
                ${users.map((u) => credits.get(u) ?? 0)}::int8[]) as g(id, spent, received)
    where users.id = g.id
  `.execute(db);
}
