import type { Kysely } from 'kysely';
import type { DB } from '../../src/db/schema.ts';
import type { RunningServer } from './processes.ts';

/** What every benchmark section gets: a seeded database, the app running against it, the knobs. */
export interface BenchContext {
  db: Kysely<DB>;
  /** The throwaway database's URL (for pgbench). */
  databaseUrl: string;
  /** The server's maintenance database (to create more throwaway databases on it). */
  adminUrl: string;
  app: RunningServer;
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** Requests per second of the fixed-rate (latency) passes. */
  rate: number;
  /** The app's JWT_SECRET, for sections that act as signed-in users. */
  jwtSecret: string;
  /** A directory the section may write scratch files to. */
  tmpDir: string;
  /**
   * Starts another instance of the app on the same database, with the main one's environment
   * plus `env` (say, another cache backend); with `discardStdout`, its logs go nowhere. The
   * caller stops it.
   */
  startApp(env: Record<string, string>, options?: { discardStdout?: boolean }): Promise<RunningServer>;
  /** Markets the search section indexes (in its own PGlite database). */
  searchMarkets: number;
  /** Trades the leaderboard section inserts in SQL. */
  leaderboardTrades: number;
  log(message: string): void;
}

/**
 * One measured row, for `--json`: what a later run is compared with. Ratios are shares of the
 * baselines measured in the same run (0.42 = 42 %), keyed by baseline ("bare", "pgbench").
 */
export interface BenchFigure {
  target: string;
  /** Requests (or pgbench transactions) per second. */
  perSecond: number;
  /** Latencies, ms, where measured. */
  p50?: number;
  p95?: number;
  p99?: number;
  errors?: number;
  ratios?: Record<string, number>;
}

/** A section's report: Markdown to print, and its figures to write with `--json`. */
export interface SectionReport {
  markdown: string;
  figures: BenchFigure[];
}

/** One part of `npm run bench` (reads, trading, cache, search…): returns Markdown, or a report with figures. */
export interface BenchSection {
  title: string;
  run(context: BenchContext): Promise<string | SectionReport>;
}
