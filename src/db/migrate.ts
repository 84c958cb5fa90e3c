import { readdir, readFile } from 'node:fs/promises';
import { sql } from 'kysely';
import type { Database } from './database.ts';

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
// Any constant works: it only has to be the same in every process that migrates.
const MIGRATION_LOCK_ID = 7_204_611;

export interface Migration {
  name: string;
  sql: string;
}

export async function listMigrations(): Promise<Migration[]> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
  return Promise.all(
    files.map(async (name) => ({ name, sql: await readFile(new URL(name, MIGRATIONS_DIR), 'utf8') })),
  );
}

/**
 * Applies the plain SQL files in src/db/migrations in name order, all pending ones in one
 * transaction, each once. On a server an advisory lock makes instances that start together
 * take turns; a PGlite data dir has one process by construction.
 */
export async function migrate(database: Database): Promise<string[]> {
  const migrations = await listMigrations();
  const { pglite } = database;
  if (pglite) {
    return pglite.transaction(async (tx) => {
      await tx.exec(CREATE_TABLE);
      const done = new Set(
        (await tx.query<{ name: string }>('select name from schema_migrations')).rows.map((r) => r.name),
      );
      const pending = migrations.filter((m) => !done.has(m.name));
      for (const m of pending) {
        // exec(): a migration file holds several statements, which query() refuses.
        await tx.exec(m.sql);
        await tx.query('insert into schema_migrations (name) values ($1)', [m.name]);
      }
      return pending.map((m) => m.name);
    });
  }
  return database.db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`.execute(trx);
    await sql.raw(CREATE_TABLE).execute(trx);
    const done = new Set(
      (await trx.selectFrom('schemaMigrations').select('name').execute()).map((r) => r.name),
    );
    const pending = migrations.filter((m) => !done.has(m.name));
    for (const m of pending) {
      // No parameters: node-postgres sends it as a simple query, which may hold several statements.
      await sql.raw(m.sql).execute(trx);
      await trx.insertInto('schemaMigrations').values({ name: m.name }).execute();
    }
    return pending.map((m) => m.name);
  });
}

const CREATE_TABLE = `create table if not exists schema_migrations (
  name text primary key, applied_at timestamptz not null default now())`;
