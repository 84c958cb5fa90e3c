import { type Config, loadConfig } from '../../src/config/env.ts';
import type { Database } from '../../src/db/database.ts';
import { migrate } from '../../src/db/migrate.ts';
import {
  openDatabaseFromConfig,
  pgliteSocketDir,
  pgliteSocketPath,
  serverSocketAnswers,
} from '../../src/db/open-from-config.ts';

/**
 * The database for an operator script: DATABASE_URL when set; else the running server's PGlite
 * through its socket; else the PGlite data dir itself. Migrations are applied either way.
 */
export async function openScriptDatabase(): Promise<{ config: Config; database: Database; via: string }> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
  let database: Database;
  let via: string;
  if (config.DATABASE_URL) {
    database = await openDatabaseFromConfig(config, { primaryOnly: true });
    via = 'DATABASE_URL';
  } else if (await serverSocketAnswers(pgliteSocketPath(config))) {
    const url = `postgres://postgres@/postgres?host=${encodeURIComponent(pgliteSocketDir(config))}`;
    database = await openDatabaseFromConfig({ ...config, DATABASE_POOL_SIZE: 1 }, { url });
    via = 'the running server';
  } else {
    database = await openDatabaseFromConfig(config, { primaryOnly: true });
    via = `PGlite in ${config.DATA_DIR}`;
  }
  await migrate(database);
  return { config, database, via };
}

/** `--name value` and `--flag` arguments. */
export function parseArgs(argv: string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out[arg.slice(2)] = next;
      i++;
    } else out[arg.slice(2)] = true;
  }
  return out;
}
