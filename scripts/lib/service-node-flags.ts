import { readFileSync } from 'node:fs';

/**
 * The V8 heap flags that `npm start` runs the service with, read from package.json's start script
 * (their one place), for the programs that start the service's processes themselves: the cluster
 * and the bench run what `npm start` runs.
 *
 * Why they are there: on a machine with plenty of memory V8 lets the old generation grow to
 * several times what is live before collecting it, and keeps 32 MiB semi-spaces. The live heap
 * stays under 100 MiB under the mixed bench load, yet the resident set grew from 235 to 553 MiB
 * over three 60 s passes. A 256 MiB old generation (V8 then grows it as on a small device) and
 * 8 MiB semi-spaces keep it at 186 → 228 → 230 → 230 MiB at the same request rate.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    scripts: { start: string };
  }
).scripts.start
  .split(/\s+/)
  .filter((word) => /^--max-[a-z-]+-size=\d+$/.test(word));
