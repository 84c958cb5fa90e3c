import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import type { Config } from '../config/env.ts';
import { type Database, openDatabase } from './database.ts';

/** Where a running server exposes its PGlite to scripts (the PostgreSQL socket naming rule). */
export function pgliteSocketDir(config: Config): string {
  return resolve(config.DATA_DIR);
}
export const PGLITE_SOCKET_NAME = '.s.PGSQL.5432';
export const pgliteSocketPath = (config: Config) => join(pgliteSocketDir(config), PGLITE_SOCKET_NAME);

/**
 * The service's database. `overrides.url` (scripts pointed at another server) or `primaryOnly`
 * (migrations, the worker's jobs) leave the read replicas out.
 */
export function openDatabaseFromConfig(
  config: Config,
  overrides: { url?: string; primaryOnly?: boolean } = {},
): Promise<Database> {
  return openDatabase({
    url: overrides.url ?? config.DATABASE_URL,
    readUrls: overrides.url || overrides.primaryOnly ? [] : (config.DATABASE_READ_URL ?? []),
    readMaxLagMs: config.DATABASE_READ_MAX_LAG_MS,
    readProbeIntervalMs: config.DATABASE_READ_PROBE_INTERVAL_MS,
    dataDir: config.DATA_DIR,
    poolSize: config.DATABASE_POOL_SIZE,
    statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    preparedStatements: config.DATABASE_PREPARED_STATEMENTS,
  });
}

/** True when a running server answers on the PGlite socket in DATA_DIR (not a stale file). */
export function serverSocketAnswers(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
