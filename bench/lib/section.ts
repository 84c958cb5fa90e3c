import type { Kysely } from 'kysely';
import type { DB } from '../../src/db/schema.ts';
import type { RunningServer } from './processes.ts';

/** What every benchmark section gets: a seeded database, the app running against it, the knobs. */
export interface BenchContext {
  db: Kysely<DB>;
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
  log(message: string): void;
}

/** One part of `npm run bench` (reads, trading, cache, search…): returns Markdown to print. */
export interface BenchSection {
  title: string;
  run(context: BenchContext): Promise<string>;
}
