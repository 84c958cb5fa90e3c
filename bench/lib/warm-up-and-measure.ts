import { type LoadOptions, type LoadResult, runLoad } from './load.ts';
import type { BenchContext } from './section.ts';

/** Runs the context's warm-up, then one measured autocannon pass, logging the headline figures. */
export async function warmUpAndMeasure(
  context: BenchContext,
  label: string,
  options: Pick<LoadOptions, 'url' | 'paths' | 'overallRate' | 'request'>,
): Promise<LoadResult> {
  const base = { ...options, connections: context.connections };
  if (context.warmupSeconds > 0) await runLoad({ ...base, durationSeconds: context.warmupSeconds });
  context.log(`measuring ${label}`);
  const result = await runLoad({ ...base, durationSeconds: context.durationSeconds });
  context.log(`  ${result.reqPerSec} req/s, p99 ${result.p99} ms, ${result.errors} errors`);
  return result;
}
