import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { type Database, type DatabaseKind, openDatabase, PGLITE_OPTIONS } from '../../src/db/database.ts';
import { listMigrations, migrate } from '../../src/db/migrate.ts';

/** PGlite always; PostgreSQL too when TEST_DATABASE_URL names a server. */
export function databaseKinds(): DatabaseKind[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];
}

export interface TestDatabase {
  database: Database;
  /** The connection URL for PostgreSQL (a throwaway database); undefined for PGlite. */
  url: string | undefined;
  cleanup(): Promise<void>;
}

const TEMPLATE_PREFIX = 'markets-api-pglite-';

/**
 * A migrated PGlite data dir as a tarball, made once per migration set and reused by every test;
 * making one removes those of older migration sets.
 */
async function pgliteTemplate(): Promise<Blob> {
  const hash = createHash('sha256');
  for (const m of await listMigrations()) hash.update(m.name).update(m.sql);
  const name = `${TEMPLATE_PREFIX}${hash.digest('hex').slice(0, 16)}.tar.gz`;
  const file = join(tmpdir(), name);
  try {
    return new Blob([await readFile(file)]);
  } catch {
    const pglite = await PGlite.create('memory://', PGLITE_OPTIONS);
    const database = await openDatabase({ pglite });
    await migrate(database);
    const dump = await pglite.dumpDataDir('gzip');
    await database.close();
    const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(partial, Buffer.from(await dump.arrayBuffer()));
    await rename(partial, file);
    for (const stale of await readdir(tmpdir())) {
      if (stale.startsWith(TEMPLATE_PREFIX) && stale.endsWith('.tar.gz') && stale !== name) {
        await rm(join(tmpdir(), stale), { force: true });
      }
    }
    return dump;
  }
}

export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const pglite = await PGlite.create({ ...PGLITE_OPTIONS, loadDataDir: await pgliteTemplate() });
    const database = await openDatabase({ pglite });
    await migrate(database);
    return { database, url: undefined, cleanup: () => database.close() };
  }
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) throw new Error('TEST_DATABASE_URL is not set');
  const name = `markets_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ url: url.toString(), poolSize: 20 });
  await migrate(database);
  return {
    database,
    url: url.toString(),
    async cleanup() {
      await database.close();
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}
