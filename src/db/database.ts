import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { CamelCasePlugin, Kysely, type LogEvent, PGliteDialect, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { DB } from './schema.ts';

export type DatabaseKind = 'pglite' | 'postgres';

export interface DatabaseOptions {
  /** postgres://… selects a real server; otherwise an embedded PGlite kept in dataDir. */
  url?: string | undefined;
  /** PGlite data directory; `memory://` keeps it in memory. */
  dataDir?: string;
  /** A PGlite instance prepared by the caller (tests start from a migrated template). */
  pglite?: PGlite;
  poolSize?: number;
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
}

/** The database adapter: one Kysely handle over PGlite or a pg pool, plus what operators need. */
export interface Database {
  kind: DatabaseKind;
  db: Kysely<DB>;
  /** The PGlite instance when embedded (for the socket server that lets scripts share it). */
  pglite?: PGlite;
  /** The server's URL when not embedded (pg-boss opens its own small pool to it). */
  url?: string;
  /** Statements executed so far: the metrics endpoint and the N+1 checks read it. */
  stats: { queries: number };
  ping(): Promise<void>;
  close(): Promise<void>;
}

// int8 as number (cents and counts stay far below 2^53); numeric as exact strings.
const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** PGlite options every embedded instance uses: our type parsers, and pgvector for semantic search. */
export const PGLITE_OPTIONS = {
  parsers: { [INT8_OID]: Number, [NUMERIC_OID]: String },
  extensions: { vector },
};

export async function openPglite(dataDir: string): Promise<PGlite> {
  if (!dataDir.startsWith('memory://')) await mkdir(dataDir, { recursive: true });
  return PGlite.create(dataDir, PGLITE_OPTIONS);
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const stats = { queries: 0 };
  const log = (event: LogEvent) => {
    stats.queries++;
    void event;
  };
  if (options.url) {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 3000,
      statement_timeout: options.statementTimeoutMs ?? 10_000,
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    // A client that loses its server (stop, restart, pg_terminate_backend) emits 'error'; with no
    // listener that kills the process. The pool listens while a client is idle (and drops it); a
    // checked-out client needs its own listener. Nothing more is needed there: its query in flight
    // rejects with the same error (a 503, see isConnectionError), and the pool discards a client
    // that is no longer queryable when it is released.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<DB>({
      dialect: new PostgresDialect({ pool }),
      plugins: [new CamelCasePlugin()],
      log,
    });
    return {
      kind: 'postgres',
      db,
      url: options.url,
      stats,
      ping: () => sql`select 1`.execute(db).then(() => undefined),
      close: () => db.destroy(),
    };
  }
  const pglite = options.pglite ?? (await openPglite(options.dataDir ?? './data'));
  const db = new Kysely<DB>({
    dialect: new PGliteDialect({ pglite }),
    plugins: [new CamelCasePlugin()],
    log,
  });
  return {
    kind: 'pglite',
    db,
    pglite,
    stats,
    ping: () => sql`select 1`.execute(db).then(() => undefined),
    async close() {
      await db.destroy();
      // Kysely closes PGlite only if it ever ran a query through it; pg-boss and migrate() use it directly.
      if (!pglite.closed) await pglite.close();
    },
  };
}
