import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { LoadResult } from '../lib/load.ts';
import { markdownTable } from '../lib/markdown-table.ts';
import { type RunningServer, startServer } from '../lib/processes.ts';
import type { BenchSection } from '../lib/section.ts';
import { warmUpAndMeasure } from '../lib/warm-up-and-measure.ts';

const BARE_SERVER = new URL('../lib/bare-server.ts', import.meta.url).pathname;
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Few enough ids that every read after the warm-up is a cache hit. */
const HOT_IDS = 100;
const LIST_PATH = '/api/markets?status=active&sort=volume&limit=20';

/**
 * Cache hits through the whole stack (request id, logging, rate-limit check, auth hook), each
 * as a share of a bare node:http server sending the same bytes, measured in this section:
 * the memory cache (the main app), Redis (a second app with REDIS_URL) and, as the baseline,
 * a third app with both caches off. Issue 5's target: a memory-cache hit reaches at least half
 * of the bare server's req/s.
 */
export const cacheSection: BenchSection = {
  title: 'Cache hits',
  async run(context) {
    const ids = await context.db.selectFrom('markets').select('id').orderBy('id').limit(HOT_IDS).execute();
    const byIdPaths = ids.map(({ id }) => `/api/markets/${id}`);

    // Two ceilings: the list body is some twenty times the by-id one, so each row is compared
    // with a bare server sending its own bytes.
    const measureBare = async (path: string, label: string) => {
      const sample = await fetch(`${context.app.url}${path}`);
      if (!sample.ok) throw new Error(`GET ${path} answered ${sample.status}`);
      const bodyFile = join(context.tmpDir, `cache-${label.replaceAll(' ', '-')}.json`);
      await writeFile(bodyFile, Buffer.from(await sample.arrayBuffer()));
      const bare = await startServer({
        script: BARE_SERVER,
        args: [bodyFile, sample.headers.get('content-type') ?? 'application/json'],
      });
      try {
        return await warmUpAndMeasure(context, `bare node:http (same bytes as ${label})`, { url: bare.url });
      } finally {
        await bare.stop();
      }
    };
    const bareById = await measureBare(byIdPaths[0]!, 'by id');
    const bareList = await measureBare(LIST_PATH, 'the list');

    const rows: (string | number)[][] = [];
    const notes: string[] = [];
    const row = (label: string, cache: string, r: LoadResult, ceiling: LoadResult) => [
      label,
      cache,
      r.reqPerSec,
      r.p50,
      r.p95,
      r.p99,
      r.errors,
      `${Math.round((r.reqPerSec / ceiling.reqPerSec) * 100)} %`,
    ];
    rows.push(row('bare node:http (same bytes as by id)', '—', bareById, bareById));
    rows.push(row('bare node:http (same bytes as the list)', '—', bareList, bareList));

    /** Fills the cache (one request per hot path), then measures by id and the list query. */
    const measureApp = async (app: RunningServer, cache: string) => {
      for (const path of [...byIdPaths, LIST_PATH]) {
        const response = await fetch(`${app.url}${path}`);
        await response.arrayBuffer();
        if (!response.ok) throw new Error(`GET ${path} answered ${response.status} (${cache})`);
      }
      const byId = await warmUpAndMeasure(context, `GET /api/markets/:id, ${cache}`, {
        url: app.url,
        paths: byIdPaths,
      });
      const list = await warmUpAndMeasure(context, `GET ${LIST_PATH}, ${cache}`, {
        url: app.url,
        paths: [LIST_PATH],
      });
      rows.push(row(`GET /api/markets/:id (${HOT_IDS} hot ids)`, cache, byId, bareById));
      rows.push(row(`GET ${LIST_PATH}`, cache, list, bareList));
      return byId;
    };

    const memoryById = await measureApp(context.app, 'memory');
    const share = Math.round((memoryById.reqPerSec / bareById.reqPerSec) * 100);
    notes.push(
      `Memory-cache hit by id: ${share} % of the bare server (issue 5's target: at least 50 %) — ${share >= 50 ? 'met' : 'not met'}.`,
    );

    const prefix = `bench-${randomBytes(4).toString('hex')}:`;
    if (await redisAnswers()) {
      const redisApp = await context.startApp({ REDIS_URL, REDIS_KEY_PREFIX: prefix });
      try {
        await measureApp(redisApp, 'Redis');
      } finally {
        await redisApp.stop();
        await deleteKeys(prefix);
      }
    } else {
      notes.push(`Redis rows skipped: nothing answered PING at ${REDIS_URL}.`);
    }

    const uncached = await context.startApp({ CACHE_TTL_SECONDS: '0', LIST_CACHE_TTL_SECONDS: '0' });
    try {
      await measureApp(uncached, 'off');
    } finally {
      await uncached.stop();
    }

    return [
      `${context.connections} connections, ${context.durationSeconds} s each after ${context.warmupSeconds} s of warm-up; latencies in ms.`,
      `By-id rows rotate over ${HOT_IDS} ids requested once beforehand, so with a cache every read is a hit;`,
      'the list row repeats one query (its cache lives LIST_CACHE_TTL_SECONDS = 10 s, so it refills once or twice a pass).',
      '"vs bare": req/s as a share of the bare node:http server sending the same bytes (by id or list), measured in this section.',
      'Rate limiting is off (RATE_LIMIT_PER_MINUTE=0) in every app process.',
      '',
      markdownTable(['target', 'cache', 'req/s', 'p50', 'p95', 'p99', 'errors', 'vs bare'], rows),
      '',
      ...notes,
    ].join('\n');
  },
};

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
