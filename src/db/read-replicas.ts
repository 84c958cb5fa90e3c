import {
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  PostgresDialect,
  PostgresDriver,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import type pg from 'pg';
import { startPeriodicTask } from '../lib/periodic-task.ts';
import { isConnectionError, pgErrorCode } from './errors.ts';
import { parseLsn, requiredLsn } from './read-consistency.ts';

/** up: reads go there; lagging: answers but is too far behind; down: does not answer (or is no replica). */
export type ReplicaState = 'starting' | 'up' | 'lagging' | 'down';

export interface ReplicaStatus {
  /** `replica-1`, `replica-2`… in DATABASE_READ_URL order: probes and metrics never show hosts. */
  name: string;
  state: ReplicaState;
  /** How far behind the primary it was at the last probe (probe-interval resolution); undefined when unknown. */
  lagMs: number | undefined;
  /** Reads it served, and reads that failed on it and were run again on the primary. */
  reads: number;
  fallbacks: number;
}

export interface ReplicaSetOptions {
  primary: pg.Pool;
  replicas: readonly pg.Pool[];
  /** A replica further behind than this is skipped until it catches up. */
  maxLagMs: number;
  probeIntervalMs: number;
}

interface Replica {
  status: ReplicaStatus;
  pool: pg.Pool;
  driver: PostgresDriver;
  /** The WAL it had replayed at the last probe: a lower bound of what it has now. */
  replayed: bigint;
  /** Primary WAL positions seen by recent probes, oldest first: how the lag is measured. */
  history: { at: number; lsn: bigint }[];
}

export type ReplicaSet = ReturnType<typeof createReplicaSet>;

type PostgresConnection = Parameters<PostgresDriver['releaseConnection']>[0];

/**
 * The read replicas behind `database.read`: a background probe keeps each one's state and replay
 * position, and the routing dialect sends each read to a healthy replica that has replayed what
 * the request requires (withReadConsistency), else to the primary. A user request never waits on
 * a replica the probe found down; one that fails on a replica (it died since) is run again on the
 * primary and the replica is skipped until the probe finds it answering.
 */
export function createReplicaSet({ primary, replicas, maxLagMs, probeIntervalMs }: ReplicaSetOptions) {
  const members: Replica[] = replicas.map((pool, index) => ({
    status: { name: `replica-${index + 1}`, state: 'starting', lagMs: undefined, reads: 0, fallbacks: 0 },
    pool,
    driver: new PostgresDriver({ pool }),
    replayed: 0n,
    history: [],
  }));
  const primaryDriver = new PostgresDriver({ pool: primary });
  let next = 0;
  // A probe must not hang on a replica that stopped answering mid-query (SIGSTOP, a dead link).
  const probeTimeoutMs = Math.max(1000, probeIntervalMs * 2);

  async function probe(replica: Replica, primaryLsn: bigint | undefined, at: number) {
    try {
      const { rows } = await withTimeout(
        replica.pool.query<{ recovering: boolean; replayed: string | null }>(
          'select pg_is_in_recovery() as recovering, pg_last_wal_replay_lsn()::text as replayed',
        ),
        probeTimeoutMs,
      );
      const replayed = rows[0]?.replayed ? parseLsn(rows[0].replayed) : undefined;
      // Promoted, or not a standby at all: its data has left the primary's history.
      if (!rows[0]?.recovering || replayed === undefined) return markDown(replica);
      replica.replayed = replayed;
      if (primaryLsn !== undefined) {
        replica.history.push({ at, lsn: primaryLsn });
        // The newest primary position it has replayed tells since when it is behind.
        let caughtUpAt: number | undefined;
        for (const seen of replica.history) if (seen.lsn <= replayed) caughtUpAt = seen.at;
        const oldest = replica.history[0]!.at;
        replica.status.lagMs = Math.max(0, at - (caughtUpAt ?? oldest));
        // Keep what is needed to tell a lag up to twice the bound, and the newest caught-up point.
        while (replica.history.length > 1 && replica.history[1]!.at < at - 2 * maxLagMs)
          replica.history.shift();
      }
      replica.status.state =
        replica.status.lagMs !== undefined && replica.status.lagMs > maxLagMs ? 'lagging' : 'up';
    } catch {
      markDown(replica);
    }
  }

  function markDown(replica: Replica) {
    replica.status.state = 'down';
    replica.status.lagMs = undefined;
    replica.history = [];
  }

  const prober = startPeriodicTask(
    probeIntervalMs,
    async () => {
      const at = Date.now();
      // The write position (not the insert one, which can point past a page header no record
      // ends at): an idle replica that has replayed everything equals it.
      const primaryLsn = await withTimeout(
        primary.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn'),
        probeTimeoutMs,
      )
        .then(({ rows }) => parseLsn(rows[0]!.lsn))
        .catch(() => undefined);
      await Promise.all(members.map((replica) => probe(replica, primaryLsn, at)));
    },
    () => {},
  );

  /** A healthy replica that has replayed `minLsn`, round robin; undefined: use the primary. */
  function pick(minLsn: bigint | undefined): Replica | undefined {
    for (let i = 0; i < members.length; i++) {
      const replica = members[(next + i) % members.length]!;
      if (replica.status.state !== 'up') continue;
      if (minLsn !== undefined && replica.replayed < minLsn) continue;
      next = (next + i + 1) % members.length;
      return replica;
    }
    return undefined;
  }

  /** Failures that say the replica, not the query, is the problem (a recovery conflict included). */
  function replicaFailed(error: unknown) {
    return isConnectionError(error) || pgErrorCode(error) === '40001';
  }

  class RoutingConnection implements DatabaseConnection {
    inTransaction = false;
    readonly inner: PostgresConnection;
    readonly driver: PostgresDriver;
    readonly replica: Replica | undefined;
    constructor(inner: PostgresConnection, driver: PostgresDriver, replica: Replica | undefined) {
      this.inner = inner;
      this.driver = driver;
      this.replica = replica;
    }

    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      if (!this.replica) return this.inner.executeQuery<R>(query);
      try {
        const result = await this.inner.executeQuery<R>(query);
        this.replica.status.reads++;
        return result;
      } catch (error) {
        if (this.inTransaction || !replicaFailed(error)) throw error;
        markDown(this.replica);
        this.replica.status.fallbacks++;
        prober.trigger();
        return onPrimary((connection) => connection.executeQuery<R>(query));
      }
    }

    streamQuery<R>(query: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<R>> {
      return this.inner.streamQuery<R>(query, chunkSize);
    }
  }

  async function onPrimary<T>(work: (connection: DatabaseConnection) => Promise<T>): Promise<T> {
    const connection = (await primaryDriver.acquireConnection()) as PostgresConnection;
    try {
      return await work(connection);
    } finally {
      await primaryDriver.releaseConnection(connection);
    }
  }

  const driver: Driver = {
    async init() {
      await Promise.all([primaryDriver, ...members.map((replica) => replica.driver)].map((d) => d.init()));
    },
    async acquireConnection() {
      const replica = pick(requiredLsn());
      if (replica) {
        try {
          return new RoutingConnection(
            (await replica.driver.acquireConnection()) as PostgresConnection,
            replica.driver,
            replica,
          );
        } catch {
          // Refused or timed out connecting: it died since the last probe.
          markDown(replica);
          replica.status.fallbacks++;
          prober.trigger();
        }
      }
      return new RoutingConnection(
        (await primaryDriver.acquireConnection()) as PostgresConnection,
        primaryDriver,
        undefined,
      );
    },
    async beginTransaction(connection, settings: TransactionSettings) {
      const routed = connection as RoutingConnection;
      routed.inTransaction = true;
      await routed.driver.beginTransaction(routed.inner, settings);
    },
    commitTransaction: (connection) => {
      const routed = connection as RoutingConnection;
      return routed.driver.commitTransaction(routed.inner);
    },
    rollbackTransaction: (connection) => {
      const routed = connection as RoutingConnection;
      return routed.driver.rollbackTransaction(routed.inner);
    },
    async releaseConnection(connection) {
      const routed = connection as RoutingConnection;
      routed.inTransaction = false;
      await routed.driver.releaseConnection(routed.inner);
    },
    async destroy() {
      await prober.stop();
      // The primary's pool belongs to database.db, which ends it.
      await Promise.all(members.map((replica) => replica.driver.destroy()));
    },
  };

  return {
    /** A Kysely dialect whose every connection is a replica's or the primary's, chosen per read. */
    dialect: new (class extends PostgresDialect {
      override createDriver() {
        return driver;
      }
    })({ pool: primary }),
    status: (): ReplicaStatus[] => members.map((replica) => ({ ...replica.status })),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
