import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CompiledQuery } from 'kysely';

const run = promisify(execFile);

export interface PgbenchResult {
  tps: number;
  /** Mean latency, ms. */
  latencyAverage: number;
  transactions: number;
  failed: number;
}

/**
 * Runs one compiled Kysely query through `pgbench -M prepared` (parse once, then bind and execute
 * per transaction, as node-postgres does not but as a driver at its best would): the ceiling of
 * that SQL on this server, with no Node, no pool and no HTTP in the way. The query's `$n`
 * placeholders become pgbench variables given with -D, sent untyped as the app's driver sends them,
 * so the server plans the same statement.
 */
export async function runPgbench(options: {
  url: string;
  query: CompiledQuery;
  clients: number;
  threads: number;
  durationSeconds: number;
  scratchDir: string;
  name: string;
}): Promise<PgbenchResult> {
  const script = join(options.scratchDir, `${options.name}.pgbench.sql`);
  await writeFile(script, `${options.query.sql.replace(/\$(\d+)/g, ':p$1').trim()};\n`);
  const defines = options.query.parameters.flatMap((value, i) => [
    '-D',
    `p${i + 1}=${value instanceof Date ? value.toISOString() : String(value)}`,
  ]);
  const { stdout } = await run(
    'pgbench',
    [
      '--no-vacuum',
      '--protocol=prepared',
      `--client=${options.clients}`,
      `--jobs=${options.threads}`,
      `--time=${options.durationSeconds}`,
      `--file=${script}`,
      ...defines,
      options.url,
    ],
    { maxBuffer: 1 << 20 },
  );
  const number = (pattern: RegExp) => {
    const match = pattern.exec(stdout);
    if (!match) throw new Error(`pgbench output lacks ${pattern}:\n${stdout}`);
    return Number(match[1]);
  };
  return {
    tps: Math.round(number(/^tps = ([\d.]+)/m)),
    latencyAverage: number(/^latency average = ([\d.]+) ms/m),
    transactions: number(/^number of transactions actually processed: (\d+)/m),
    failed: /^number of failed transactions: (\d+)/m.test(stdout)
      ? number(/^number of failed transactions: (\d+)/m)
      : 0,
  };
}
