import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CompiledQuery } from 'kysely';

const run = promisify(execFile);

/** pgbench takes at most this many scripts (MAX_SCRIPTS in pgbench.c). */
const MAX_SCRIPTS = 128;

export interface PgbenchResult {
  tps: number;
  /** Mean latency, ms. */
  latencyAverage: number;
  transactions: number;
  failed: number;
}

interface PgbenchLoad {
  url: string;
  /** Server settings for pgbench's sessions (PGOPTIONS), say plan_cache_mode. */
  settings?: Record<string, string> | undefined;
  clients: number;
  threads: number;
  durationSeconds: number;
}

/**
 * Runs compiled Kysely queries through `pgbench -M prepared` (parse once, then bind and execute
 * per transaction, as a driver at its best would): the ceiling of that SQL on this server, with
 * no Node, no pool and no HTTP in the way. Several queries (the same SQL with other parameters,
 * say one id each) become one script each, chosen at random with equal weights, so the
 * parameters are spread as the route's requests spread them. Each query's `$n` placeholders
 * become pgbench variables given with -D, sent untyped as the app's driver sends them, so the
 * server plans the same statement.
 */
export async function runPgbench(
  options: PgbenchLoad & {
    query: CompiledQuery | readonly CompiledQuery[];
    scratchDir: string;
    name: string;
  },
): Promise<PgbenchResult> {
  const queries = Array.isArray(options.query) ? options.query : [options.query as CompiledQuery];
  if (queries.length === 0 || queries.length > MAX_SCRIPTS)
    throw new Error(`pgbench runs 1 to ${MAX_SCRIPTS} scripts, not ${queries.length}`);
  const args: string[] = [];
  for (const [k, query] of queries.entries()) {
    const script = join(options.scratchDir, `${options.name}-${k}.pgbench.sql`);
    await writeFile(script, `${query.sql.replace(/\$(\d+)/g, `:q${k}p$1`).trim()};\n`);
    args.push(`--file=${script}@1`);
    for (const [i, value] of query.parameters.entries()) {
      args.push('-D', `q${k}p${i + 1}=${value instanceof Date ? value.toISOString() : String(value)}`);
    }
  }
  return pgbench(options, args);
}

/**
 * pgbench's own TPC-B-like script (-M prepared) on a database `initTpcb` filled: a reference of
 * what this server does with small writing transactions. At scale 1 every transaction updates the
 * one branch row (they queue on its lock); at scale 10 they spread over ten.
 */
export function runTpcb(options: PgbenchLoad): Promise<PgbenchResult> {
  return pgbench(options, ['--builtin=tpcb-like']);
}

/** `pgbench -i -s scale`: the TPC-B tables, in the (throwaway) database at `url`. */
export async function initTpcb(url: string, scale: number): Promise<void> {
  await run('pgbench', ['--initialize', '--quiet', `--scale=${scale}`, url], { maxBuffer: 1 << 20 });
}

async function pgbench(load: PgbenchLoad, args: string[]): Promise<PgbenchResult> {
  const { stdout } = await run(
    'pgbench',
    [
      '--no-vacuum',
      '--protocol=prepared',
      `--client=${load.clients}`,
      `--jobs=${load.threads}`,
      `--time=${load.durationSeconds}`,
      ...args,
      load.url,
    ],
    {
      maxBuffer: 1 << 20,
      env: {
        ...process.env,
        PGOPTIONS: Object.entries(load.settings ?? {})
          .map(([name, value]) => `-c ${name}=${value}`)
          .join(' '),
      },
    },
  );
  const number = (pattern: RegExp) => {
    const match = pattern.exec(stdout);
    if (!match) throw new Error(`pgbench output lacks ${pattern}:\n${stdout}`);
    return Number(match[1]);
  };
  const transactions = number(/^number of transactions actually processed: (\d+)/m);
  // With no transaction done (a machine too loaded to connect 50 clients in time) pgbench prints no tps.
  if (transactions === 0) return { tps: 0, latencyAverage: Number.NaN, transactions, failed: 0 };
  return {
    tps: Math.round(number(/^tps = ([\d.]+)/m)),
    latencyAverage: number(/^latency average = ([\d.]+) ms/m),
    transactions,
    failed: /^number of failed transactions: (\d+)/m.test(stdout)
      ? number(/^number of failed transactions: (\d+)/m)
      : 0,
  };
}
