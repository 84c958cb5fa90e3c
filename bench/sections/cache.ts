import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { bodyOnly, type RecordedResponse, recordResponse, startBareServer } from '../lib/bare-ceiling.ts';
import type { LoadResult } from '../lib/load.ts';
import { markdownTable } from '../lib/markdown-table.ts';
import { medianRun } from '../lib/median-run.ts';
import type { RunningServer } from '../lib/processes.ts';
import type { BenchSection } from '../lib/section.ts';
import { warmUpAndMeasure } from '../lib/warm-up-and-measure.ts';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Few enough ids that every read after the warm-up is a cache hit. */
const HOT_IDS = 100;
const LIST_PATH = '/api/markets?status=active&sort=volume&limit=20';
/** The bare server and the memory-cache app take turns this many times; the medians are reported. */
const ROUNDS = 3;
/**
 * The whole stack, as issue 5's target says: the rate limiter counting every request (with a budget
 * no run exhausts: the passes of a minute share one window) and one info-level log line per
 * request (written to a discarded stdout).
 */
const WHOLE_STACK = { RATE_LIMIT_PER_MINUTE: '1000000000', LOG_LEVEL: 'info' };

/**
 * Cache hits through the whole stack (request id, logging, rate-limit check, auth hook), each
 * as a share of a bare node:http server sending the same response, measured in this section. The
 * bare servers and the memory-cache app take turns over several rounds, so a change in the
 * machine's speed during the run (it is a shared virtual machine) falls on both sides of the
 * ratio. Then one round each for Redis and, as the baseline, both caches off.
 */
export const cacheSection: BenchSection = {
  title: 'Cache hits',
  async run(context) {
    const ids = await context.db.selectFrom('markets').select('id').orderBy('id').limit(HOT_IDS).execute();
    const byIdPaths = ids.map(({ id }) => `/api/markets/${id}`);
    const targets = [
      { label: `GET /api/markets/:id (${HOT_IDS} hot ids)`, paths: byIdPaths, sample: byIdPaths[0]! },
      { label: `GET ${LIST_PATH}`, paths: [LIST_PATH], sample: LIST_PATH },
    ];
    const rows: (string | number)[][] = [];
    const notes: string[] = [];
    const servers: RunningServer[] = [];

    try {
      const memoryApp = await context.startApp(WHOLE_STACK, { discardStdout: true });
      servers.push(memoryApp);
      // A ceiling per target: the list body is some twenty times the by-id one, so each row is
      // compared with a bare server sending its own response. The by-id row also has the ceiling
      // of earlier runs, a bare server sending the body without the app's headers.
      const ceilingsOf: { label: string; server: RunningServer }[] = [];
      const startCeiling = async (label: string, name: string, response: RecordedResponse) => {
        const server = await startBareServer(context.tmpDir, name, response);
        servers.push(server);
        ceilingsOf.push({ label, server });
      };
      const byIdResponse = await recordResponse(`${memoryApp.url}${targets[0]!.sample}`);
      await startCeiling(
        `bare node:http (same response as ${targets[0]!.label})`,
        'cache-by-id',
        byIdResponse,
      );
      await startCeiling(
        `bare node:http (same response as ${targets[1]!.label})`,
        'cache-list',
        await recordResponse(`${memoryApp.url}${targets[1]!.sample}`),
      );
      await startCeiling(
        `bare node:http (same body as ${targets[0]!.label}, its only header content-type)`,
        'cache-by-id-body',
        bodyOnly(byIdResponse),
      );

      await fill(memoryApp, [...byIdPaths, LIST_PATH], 'memory');
      const bareRuns: LoadResult[][] = ceilingsOf.map(() => []);
      const memoryRuns: LoadResult[][] = targets.map(() => []);
      for (let round = 1; round <= ROUNDS; round++) {
        for (const [index, ceiling] of ceilingsOf.entries()) {
          bareRuns[index]!.push(
            await warmUpAndMeasure(context, `round ${round}/${ROUNDS}: ${ceiling.label}`, {
              url: ceiling.server.url,
            }),
          );
          const target = targets[index];
          if (!target) continue;
          memoryRuns[index]!.push(
            await warmUpAndMeasure(context, `round ${round}/${ROUNDS}: ${target.label}, memory`, {
              url: memoryApp.url,
              paths: target.paths,
            }),
          );
        }
      }
      const ceilings = bareRuns.map((runs) => medianRun(runs, (r) => r.reqPerSec));
      const percentOf = (r: LoadResult, ceiling: LoadResult) =>
        Math.round((r.reqPerSec / ceiling.reqPerSec) * 100);
      const row = (label: string, cache: string, r: LoadResult, index: number) => [
        label,
        cache,
        r.reqPerSec,
        r.p50,
        r.p95,
        r.p99,
        r.errors,
        `${percentOf(r, ceilings[index]!)} %`,
      ];
      for (const [index, ceiling] of ceilingsOf.entries()) {
        rows.push(row(ceiling.label, '—', ceilings[index]!, index));
      }
      const memoryById = medianRun(memoryRuns[0]!, (r) => r.reqPerSec);
      rows.push(row(targets[0]!.label, 'memory', memoryById, 0));
      rows.push(
        row(
          targets[1]!.label,
          'memory',
          medianRun(memoryRuns[1]!, (r) => r.reqPerSec),
          1,
        ),
      );

      const failed = memoryRuns[0]!.reduce((sum, run) => sum + run.errors, 0);
      const share = percentOf(memoryById, ceilings[0]!);
      const verdict = (target: number) => (failed > 0 ? 'not measured' : share >= target ? 'met' : 'not met');
      notes.push(
        `Memory-cache hit by id: ${share} % of the bare server sending the same response ` +
          `(rounds: ${memoryRuns[0]!.map((run, i) => percentOf(run, bareRuns[0]![i]!)).join(' %, ')} %; ` +
          `issue 5's target, at least 50 %: ${verdict(50)}; issue 16's, at least 60 %: ${verdict(60)})` +
          `${failed > 0 ? `: ${failed} requests failed` : ''}. ` +
          `Against the body alone: ${percentOf(memoryById, ceilings[2]!)} % ` +
          `(rounds: ${memoryRuns[0]!.map((run, i) => percentOf(run, bareRuns[2]![i]!)).join(' %, ')} %).`,
      );

      /** One pass per target on another app (same whole-stack settings plus `env`), stopped after. */
      const measureOther = async (env: Record<string, string>, cache: string) => {
        const app = await context.startApp({ ...WHOLE_STACK, ...env }, { discardStdout: true });
        const results: LoadResult[] = [];
        try {
          await fill(app, [...byIdPaths, LIST_PATH], cache);
          for (const [index, target] of targets.entries()) {
            const result = await warmUpAndMeasure(context, `${target.label}, ${cache}`, {
              url: app.url,
              paths: target.paths,
            });
            rows.push(row(target.label, cache, result, index));
            results.push(result);
          }
        } finally {
          await app.stop();
        }
        return results;
      };
      const prefix = `bench-${randomBytes(4).toString('hex')}:`;
      if (await redisAnswers()) {
        try {
          const [redisById] = await measureOther({ REDIS_URL, REDIS_KEY_PREFIX: prefix }, 'Redis');
          const redisShare = percentOf(redisById!, ceilings[0]!);
          notes.push(
            `Redis-cache hit by id: ${redisShare} % of the bare server sending the same response ` +
              `(one pass; issue 16's target, at least 40 %: ${redisShare >= 40 ? 'met' : 'not met'}).`,
          );
        } finally {
          await deleteKeys(prefix);
        }
      } else {
        notes.push(`Redis rows skipped: nothing answered PING at ${REDIS_URL}.`);
      }
      await measureOther({ CACHE_TTL_SECONDS: '0', LIST_CACHE_TTL_SECONDS: '0' }, 'off');
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }

    return [
      `${context.connections} connections, ${context.durationSeconds} s each after ${context.warmupSeconds} s of warm-up; latencies in ms.`,
      `The bare servers and the memory-cache app took turns ${ROUNDS} times: their rows are the medians (by req/s) of those rounds.`,
      `By-id rows rotate over ${HOT_IDS} ids requested once beforehand, so with a cache every read is a hit;`,
      'the list row repeats one query (its cache lives LIST_CACHE_TTL_SECONDS = 10 s, so it refills once or twice a pass).',
      '"vs bare": req/s as a share of the median bare node:http server sending the same response, headers and body (by id or list): the load generator shares the machine, so the bytes it parses must be the same on both sides.',
      'Every app process runs the whole stack: request ids, rate limiting (a budget of 10⁹ per minute, never exhausted), an info log line per request.',
      '',
      markdownTable(['target', 'cache', 'req/s', 'p50', 'p95', 'p99', 'errors', 'vs bare'], rows),
      '',
      ...notes,
    ].join('\n');
  },
};

/** Requests each path once, so the measured passes read from a filled cache. */
async function fill(app: RunningServer, paths: readonly string[], cache: string): Promise<void> {
  for (const path of paths) {
    const response = await fetch(`${app.url}${path}`);
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`GET ${path} answered ${response.status} (${cache})`);
  }
}

async function redisAnswers(): Promise<boolean> {
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** Removes what the Redis-backed app wrote, so repeated runs leave nothing behind. */
async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<
      string[]
    >) {
      if (keys.length > 0) await redis.del(...keys);
    }
  } finally {
    redis.disconnect();
  }
}
