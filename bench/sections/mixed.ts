import { randomBytes } from 'node:crypto';
import { createBenchMarkets, createBenchUsers, ledgerDifference } from '../lib/bench-users.ts';
import { type LoadOptions, type LoadResult, runLoad } from '../lib/load.ts';
import { markdownTable } from '../lib/markdown-table.ts';
import { residentKib } from '../lib/proc-stats.ts';
import type { BenchSection } from '../lib/section.ts';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TRADERS = 20;
/** Markets the writes (edits, trades) go to, created through the API. */
const WRITE_MARKETS = 50;
/** Seeded markets read by id: more than stay hot, so some reads miss the cache. */
const READ_IDS = 2000;
const PASSES = 3;
const CATEGORIES = ['politics', 'sports', 'crypto', 'science', 'economics'];

type Request = ReturnType<NonNullable<LoadOptions['request']>>;

/**
 * RSS under a mixed load, on PostgreSQL with Redis (cache and rate-limit counters): reads by id,
 * filtered lists, offset and cursor pages, creates, edits and trades, as three passes back to back
 * on one server process. After each pass: the process's RSS and, from its /metrics, the V8 heap
 * and the memory held outside it. Run it with `--duration 60` for the three minutes.
 */
export const mixedSection: BenchSection = {
  title: 'Mixed load: memory over three passes',
  async run(context) {
    const metricsToken = randomBytes(16).toString('hex');
    const prefix = `bench-mixed-${randomBytes(4).toString('hex')}:`;
    const app = await context.startApp(
      {
        REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        METRICS_TOKEN: metricsToken,
        RATE_LIMIT_PER_MINUTE: '1000000000',
        LOG_LEVEL: 'info',
      },
      { discardStdout: true },
    );
    try {
      const { adminAuth, traderAuths } = await createBenchUsers(context.db, context.jwtSecret, {
        traders: TRADERS,
        label: 'mixed',
      });
      context.log(`creating ${WRITE_MARKETS} markets`);
      const writeIds = await createBenchMarkets(app.url, adminAuth, { count: WRITE_MARKETS, label: 'mixed' });
      const readIds = (
        await context.db.selectFrom('markets').select('id').orderBy('id').limit(READ_IDS).execute()
      ).map((row) => row.id);
      const cursors = await firstCursors(app.url);

      const lists = CATEGORIES.flatMap((category) => [
        `/api/markets?status=active&category=${category}&sort=volume&limit=20`,
        `/api/markets?category=${category}&sort=closesAt&order=asc&limit=50&offset=100`,
        `/api/markets?status=active&category=${category}&volumeMin=10&sort=createdAt&limit=20&fields=id,name,probability`,
      ]);
      let created = 0;
      const mix = (n: number): Request => {
        const slot = n % 20;
        if (slot < 10) return { method: 'GET', path: `/api/markets/${readIds[(n * 7919) % readIds.length]}` };
        if (slot < 13) return { method: 'GET', path: lists[n % lists.length]! };
        if (slot < 15) return { method: 'GET', path: cursors[n % cursors.length]! };
        const json = { authorization: adminAuth, 'content-type': 'application/json' };
        if (slot === 15) {
          return {
            method: 'POST',
            path: '/api/markets',
            headers: json,
            body: JSON.stringify({
              name: `Mixed bench market ${Date.now()} ${created++}`,
              category: CATEGORIES[n % CATEGORIES.length],
              closesAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
              liquidity: 100,
            }),
          };
        }
        if (slot === 16) {
          return {
            method: 'PATCH',
            path: `/api/markets/${writeIds[n % writeIds.length]}`,
            headers: json,
            body: JSON.stringify({ tags: ['bench', `edit-${n % 7}`] }),
          };
        }
        return {
          method: 'POST',
          path: `/api/markets/${writeIds[n % writeIds.length]}/trades`,
          headers: { authorization: traderAuths[n % TRADERS]!, 'content-type': 'application/json' },
          body: JSON.stringify({ outcome: n % 3 === 0 ? 'NO' : 'YES', side: 'buy', amount: 1 + (n % 3) }),
        };
      };

      const memory = async () => ({
        rss: (await residentKib(app.pid)).rss,
        ...(await heapOf(app.url, metricsToken)),
      });
      const rows: (string | number)[][] = [];
      const before = await memory();
      rows.push(['before', '—', '—', '—', mib(before.rss), mib(before.heapUsed), mib(before.external)]);
      let requests = 0;
      for (let pass = 1; pass <= PASSES; pass++) {
        context.log(`measuring mixed load, pass ${pass}/${PASSES}`);
        const result: LoadResult = await runLoad({
          url: app.url,
          connections: context.connections,
          durationSeconds: context.durationSeconds,
          request: (n) => mix(requests + n),
        });
        requests += result.requests;
        const after = await memory();
        context.log(
          `  ${result.reqPerSec} req/s, RSS ${mib(after.rss)} MiB, heap ${mib(after.heapUsed)} MiB`,
        );
        rows.push([
          `after pass ${pass}`,
          result.reqPerSec,
          result.p99,
          result.errors,
          mib(after.rss),
          mib(after.heapUsed),
          mib(after.external),
        ]);
      }
      const ledger = await ledgerDifference(app.url, adminAuth);
      const settings = ['MALLOC_ARENA_MAX', 'UV_THREADPOOL_SIZE']
        .map((name) => `${name}=${process.env[name] ?? 'unset'}`)
        .join(', ');
      return [
        `${context.connections} connections, ${PASSES} passes of ${context.durationSeconds} s back to back on one server process (PostgreSQL, Redis for cache and rate limits, info logs). Per 20 requests: 10 reads by id over ${READ_IDS} markets, 3 filtered lists and offset pages, 2 cursor pages, 1 create, 1 edit (PATCH tags), 3 trades (${TRADERS} traders over ${WRITE_MARKETS} markets). The bench's environment: ${settings}.`,
        '',
        markdownTable(
          ['when', 'req/s', 'p99 ms', 'errors', 'RSS MiB', 'heap used MiB', 'external MiB'],
          rows,
        ),
        '',
        `RSS from /proc; heap used and external (Buffers and other memory V8 tracks outside its heap) from the app's /metrics. Ledger difference after the run: ${ledger}.`,
      ].join('\n');
    } finally {
      await app.stop();
    }
  },
};

/** The second page of a few orderings, by cursor (the same query plus the first page's cursor). */
async function firstCursors(url: string): Promise<string[]> {
  const cursors: string[] = [];
  for (const query of ['sort=volume', 'sort=createdAt', 'sort=closesAt&order=asc', 'status=active']) {
    const path = `/api/markets?limit=20&${query}`;
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { meta?: { nextCursor?: string | null } };
    if (body.meta?.nextCursor) cursors.push(`${path}&cursor=${encodeURIComponent(body.meta.nextCursor)}`);
  }
  if (cursors.length === 0) throw new Error('no list page gave a cursor');
  return cursors;
}

async function heapOf(url: string, token: string): Promise<{ heapUsed: number; external: number }> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? Number.NaN);
  return {
    heapUsed: gauge('nodejs_heap_size_used_bytes') / 1024,
    external: gauge('nodejs_external_memory_bytes') / 1024,
  };
}

/** KiB → MiB, one decimal. */
function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}
