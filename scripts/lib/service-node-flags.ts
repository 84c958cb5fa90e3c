import { readFileSync } from 'node:fs';

/**
 * The V8 heap flags that `npm start` runs the service with, read from package.json's start script
 * (their one place), for the programs that start the service's processes themselves: the cluster
 * and the bench run what `npm start` runs.
 *
 * Why they are there, with the figures: README, "Scaling out" (memory).
 */
export const SERVICE_NODE_FLAGS: readonly string[] = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    scripts: { start: string };
  }
).scripts.start
  .split(/\s+/)
  .filter((word) => /^--max-[a-z-]+-size=\d+$/.test(word));
