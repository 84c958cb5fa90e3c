import { type LoadResult, percentile } from './load.ts';

/**
 * `concurrency` callers each awaiting `call` back to back for `durationSeconds`: the same
 * shape as autocannon's connections, for code called in-process (a repository method alone).
 */
export async function runClosedLoop(options: {
  call: (i: number) => Promise<unknown>;
  concurrency: number;
  durationSeconds: number;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const start = performance.now();
  const end = start + options.durationSeconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const sent = performance.now();
      try {
        await options.call(next++);
        latencies.push(performance.now() - sent);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    reqPerSec: Math.round(latencies.length / seconds),
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    errors,
  };
}
