import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/schema.ts';

export type VectorSupport = { enabled: true } | { enabled: false; reason: string };

// Any constant: instances that start together take turns adding the column.
const VECTOR_DDL_LOCK_ID = 7_204_612;

/**
 * Gives market_embeddings its `embedding vector(N)` column and HNSW (cosine) index when pgvector
 * is available. This is not a migration because it cannot be one: migrations must run on a
 * PostgreSQL without pgvector, and N follows EMBEDDING_DIMENSIONS. When N changes, the old vectors
 * are dropped (they cannot be compared with new ones); POST /api/admin/reindex rebuilds them.
 */
export async function ensureVectorSupport(db: Kysely<DB>, dimensions: number): Promise<VectorSupport> {
  try {
    await sql`create extension if not exists vector`.execute(db);
  } catch (error) {
    return { enabled: false, reason: (error as Error).message };
  }
  const type = `vector(${dimensions})`;
  await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${VECTOR_DDL_LOCK_ID})`.execute(trx);
    const { rows } = await sql<{ type: string }>`
      select format_type(atttypid, atttypmod) as type from pg_attribute
      where attrelid = 'market_embeddings'::regclass and attname = 'embedding' and not attisdropped`.execute(
      trx,
    );
    const current = rows[0]?.type;
    if (current === type) return;
    if (current !== undefined) {
      await sql`drop index if exists market_embeddings_embedding_idx`.execute(trx);
      await sql`alter table market_embeddings drop column embedding`.execute(trx);
    }
    // Rows without a comparable vector say nothing: every market goes back to "not embedded yet".
    await sql`delete from market_embeddings`.execute(trx);
    await sql`alter table market_embeddings add column embedding ${sql.raw(type)} not null`.execute(trx);
    await sql`create index market_embeddings_embedding_idx on market_embeddings
      using hnsw (embedding vector_cosine_ops)`.execute(trx);
  });
  return { enabled: true };
}
