import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { Kysely, type LogEvent, PGliteDialect, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { CompiledCamelCasePlugin } from './camel-case-rows.ts';
import { poolClient } from './pool-client.ts';
import { createReplicaSet, type ReplicaStatus } from './read-replicas.ts';
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
  /** Run the queries marked `prepared` as named prepared statements (default true; PostgreSQL only). */
  preparedStatements?: boolean;
  /** Streaming replicas of `url` that serve `read` (postgres:// URLs). */
  readUrls?: readonly string[];
  /** A replica further behind the primary than this is skipped. */
  readMaxLagMs?: number;
  /** How often each replica's state and replay position are probed. */
  readProbeIntervalMs?: number;
  /** Called with the SQL of every statement after it ran (BEGIN and COMMIT included): for slow-query logs, or a test reading what ran. */
  onQuery?: (sql: string) => void;
}

/** The database adapter: one Kysely handle over PGlite or a pg pool, plus what operators need. */
export interface Database {
  kind: DatabaseKind;
  db: Kysely<DB>;
  /**
   * For reads that tolerate lag, outside any write's transaction: a healthy replica that has
   * replayed what the request's consistency token requires (read-consistency.ts), else the
   * primary. Without replicas (and with PGlite) it is `db` itself.
   */
  read: Kysely<DB>;
  /** Each replica's state, for /readyz and /metrics; empty without replicas. */
  replicas(): ReplicaStatus[];
  /**
   * After a commit: a WAL position the write is behind, for the client to present on its next
   * read. Undefined when there are no replicas (every read is on the primary).
   */
  consistencyToken(): Promise<string | undefined>;
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
// int8[] (a market's shares per answer) as numbers too, from the same text form in both drivers.
const INT8_ARRAY_OID = 1016;
const int8Array = (text: string): number[] => (text === '{}' ? [] : text.slice(1, -1).split(',').map(Number));

/** PGlite options every embedded instance uses: our type parsers, and pgvector for semantic search. */
export const PGLITE_OPTIONS = {
  parsers: { [INT8_OID]: Number, [INT8_ARRAY_OID]: int8Array, [NUMERIC_OID]: String },
  extensions: { vector },
};

export async function openPglite(dataDir: string): Promise<PGlite> {
  if (!dataDir.startsWith('memory://')) await mkdir(dataDir, { recursive: true });
  return PGlite.create(dataDir, PGLITE_OPTIONS);
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const stats = { queries: 0 };
  const { onQuery } = options;
  const log = (event: LogEvent) => {
    stats.queries++;
    onQuery?.(event.query.sql);
  };
  if (options.url) {
    const pool = openPool(options.url, options);
    const db = new Kysely<DB>({
      dialect: new PostgresDialect({ pool }),
      plugins: [new CompiledCamelCasePlugin()],
      log,
    });
    const readUrls = options.readUrls ?? [];
    if (readUrls.length === 0) {
      return {
        kind: 'postgres',
        db,
        read: db,
        replicas: () => [],
        consistencyToken: async () => undefined,
        url: options.url,
        stats,
        ping: () => sql`select 1`.execute(db).then(() => undefined),
        close: () => db.destroy(),
      };
    }
    const replicaSet = createReplicaSet({
      primary: pool,
      // A client-side bound too: a replica that stops answering mid-query must not hold a read
      // longer than the server-side statement timeout would (the read is then run on the primary).
      replicas: readUrls.map((url) =>
        openPool(url, options, { query_timeout: (options.statementTimeoutMs ?? 10_000) + 1000 }),
      ),
      maxLagMs: options.readMaxLagMs ?? 5000,
      probeIntervalMs: options.readProbeIntervalMs ?? 1000,
    });
    const read = new Kysely<DB>({
      dialect: replicaSet.dialect,
      plugins: [new CompiledCamelCasePlugin()],
      log,
    });
    return {
      kind: 'postgres',
      db,
      read,
      replicas: replicaSet.status,
      // The insert position, read after the commit returned: the commit record is before it
      // whatever synchronous_commit says (the write position can still be short of it with
      // synchronous_commit=off). It may point a little past the last record (a page header,
      // another transaction's WAL in flight): a tokened read then goes to the primary until the
      // replica has replayed more, never to a replica without the write.
      async consistencyToken() {
        const { rows } = await sql<{ lsn: string }>`select pg_current_wal_insert_lsn()::text as lsn`.execute(
          db,
        );
        return rows[0]?.lsn;
      },
      url: options.url,
      stats,
      ping: () => sql`select 1`.execute(db).then(() => undefined),
      async close() {
        await read.destroy();
        await db.destroy();
      },
    };
  }
  const pglite = options.pglite ?? (await openPglite(options.dataDir ?? './data'));
  const db = new Kysely<DB>({
    dialect: new PGliteDialect({ pglite }),
    plugins: [new CompiledCamelCasePlugin()],
    log,
  });
  return {
    kind: 'pglite',
    db,
    read: db,
    replicas: () => [],
    consistencyToken: async () => undefined,
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

function openPool(url: string, options: DatabaseOptions, extra: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({
    Client: poolClient(options.preparedStatements ?? true),
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 3000,
    statement_timeout: options.statementTimeoutMs ?? 10_000,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID
          ? Number
          : oid === INT8_ARRAY_OID
            ? int8Array
            : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
    ...extra,
  });
  // A client that loses its server (stop, restart, pg_terminate_backend) emits 'error'; with no
  // listener that kills the process. The pool listens while a client is idle (and drops it); a
  // checked-out client needs its own listener. Nothing more is needed there: its query in flight
  // rejects with the same error (a 503, see isConnectionError), and the pool discards a client
  // that is no longer queryable when it is released.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}
