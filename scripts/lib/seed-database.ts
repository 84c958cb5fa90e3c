import { type Kysely, sql } from 'kysely';
import type { DB } from '../../src/db/schema.ts';
import { type SampleMarket, sampleMarkets, sampleUsers } from './sample-markets.ts';

export interface SeedOptions {
  markets: number;
  users: number;
  seed: number;
  /** Rows per INSERT statement. */
  batchSize?: number;
  now?: Date;
  onBatch?: (done: number, total: number) => void;
}

export interface SeedResult {
  users: number;
  /** Markets inserted; fewer than asked when the same seed already ran (slugs are taken). */
  inserted: number;
  skipped: number;
}

/**
 * Loads sample users and markets in one transaction (all or nothing). Each batch is one
 * `insert … select from unnest(array, array, …)`: one statement and 14 parameters per batch
 * however many rows, so 100k markets take 20 round trips instead of 100k. Tags travel as
 * space-separated strings because unnest cannot return a row's array out of a 2-D array.
 */
export async function seedSampleData(db: Kysely<DB>, options: SeedOptions): Promise<SeedResult> {
  const batchSize = options.batchSize ?? 5000;
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
    const creatorIds = users.map((u) => idByEmail.get(u.email)!);

    let inserted = 0;
    let done = 0;
    let batch: SampleMarket[] = [];
    const flush = async () => {
      inserted += await insertBatch(trx, batch, creatorIds);
      done += batch.length;
      batch = [];
      options.onBatch?.(done, options.markets);
    };
    for (const market of sampleMarkets(options.markets, users.length, options)) {
      batch.push(market);
      if (batch.length === batchSize) await flush();
    }
    if (batch.length > 0) await flush();
    return { users: users.length, inserted, skipped: options.markets - inserted };
  });
  // Fresh planner statistics: without them the first list queries may plan as for an empty table.
  await sql`analyze markets, users`.execute(db);
  return result;
}

async function insertBatch(db: Kysely<DB>, batch: SampleMarket[], creatorIds: string[]): Promise<number> {
  const column = <T>(get: (m: SampleMarket) => T) => batch.map(get);
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  const { numAffectedRows } = await sql`
    insert into markets (slug, name, description, category, tags, status, closes_at, creator_id,
                         probability, volume, outcome, resolved_at, created_at, updated_at)
    select slug, name, description, category, string_to_array(tags, ' '), status, closes_at, creator_id,
           probability, volume, outcome, resolved_at, created_at, updated_at
    from unnest(
      ${column((m) => m.slug)}::text[], ${column((m) => m.name)}::text[],
      ${column((m) => m.description)}::text[], ${column((m) => m.category)}::text[],
      ${column((m) => m.tags.join(' '))}::text[], ${column((m) => m.status)}::text[],
      ${column((m) => iso(m.closesAt))}::timestamptz[], ${column((m) => creatorIds[m.creator]!)}::uuid[],
      ${column((m) => m.probability)}::float8[], ${column((m) => m.volume)}::int8[],
      ${column((m) => m.outcome)}::text[], ${column((m) => iso(m.resolvedAt))}::timestamptz[],
      ${column((m) => iso(m.createdAt))}::timestamptz[], ${column((m) => iso(m.updatedAt))}::timestamptz[]
    ) as t(slug, name, description, category, tags, status, closes_at, creator_id,
           probability, volume, outcome, resolved_at, created_at, updated_at)
    on conflict (slug) do nothing
  `.execute(db);
  return Number(numAffectedRows ?? 0);
}
