import { Agent } from 'node:http';
import { createPriceHistoryRepository } from '../../src/modules/markets/history/price-history.repository.ts';
import { INTERVALS } from '../../src/modules/markets/history/price-history.schemas.ts';
import type { BenchUsers } from '../lib/bench-users.ts';
import { createBenchMarkets } from '../lib/bench-users.ts';
import { runClosedLoop } from '../lib/closed-loop.ts';
import { httpGet } from '../lib/http-get.ts';
import type { LoadResult } from '../lib/load.ts';
import { markdownTable } from '../lib/markdown-table.ts';
import { runPgbench } from '../lib/pgbench.ts';
import type { BenchContext } from '../lib/section.ts';
import { seedTradedHistory } from '../lib/traded-history.ts';

const HOUR = INTERVALS['1h'];
const BUCKETS = 30 * 24;
/** About 20 trades an hour over the 30 days. */
const TRADES = BUCKETS * 20;
/** pgbench clients: the app's pool size, so both sides may run as many queries at once. */
const PG_CLIENTS = 10;

/**
 * History of one market over 30 days of 1-hour buckets (720), a fully past range, through
 * the route and, in the same run, its SQL alone: Kysely + pg in the bench process, and
 * `pgbench -M prepared`. The route has no response cache: every request runs the query; the
 * If-None-Match pass answers 304 without a body but still runs it (the ETag is a hash of the body).
 */
export async function measureHistory(context: BenchContext, users: BenchUsers): Promise<string> {
  const [marketId] = await createBenchMarkets(context.app.url, users.adminAuth, {
    count: 1,
    label: 'history',
  });
  const last = new Date(Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR);
  const first = new Date(last.getTime() - (BUCKETS - 1) * HOUR);
  context.log(`seeding ${TRADES} trades over 30 days into one market`);
  const seeded = await seedTradedHistory(context.db, {
    marketId: marketId!,
    traderIds: users.traderIds,
    from: first,
    to: new Date(last.getTime() + HOUR),
    count: TRADES,
  });

  const to = new Date(last.getTime() + HOUR - 1);
  const url = new URL(
    `/api/markets/${marketId}/history?interval=1h&from=${first.toISOString()}&to=${to.toISOString()}`,
    context.app.url,
  );
  const sample = await fetch(url);
  const body = await sample.text();
  if (sample.status !== 200) throw new Error(`GET ${url.pathname} answered ${sample.status}: ${body}`);
  const buckets = (JSON.parse(body) as { data: { buckets: unknown[] } }).data.buckets.length;
  if (buckets !== BUCKETS) throw new Error(`history answered ${buckets} buckets, expected ${BUCKETS}`);
  const etag = sample.headers.get('etag');
  const cacheControl = sample.headers.get('cache-control') ?? '—';

  const agent = new Agent({ keepAlive: true, maxSockets: context.connections });
  const closedLoop = async (label: string, call: () => Promise<unknown>) => {
    const options = { call, concurrency: context.connections };
    if (context.warmupSeconds > 0)
      await runClosedLoop({ ...options, durationSeconds: context.warmupSeconds });
    context.log(`measuring ${label}`);
    const result = await runClosedLoop({ ...options, durationSeconds: context.durationSeconds });
    context.log(`  ${result.reqPerSec} req/s, p99 ${result.p99} ms, ${result.errors} errors`);
    return result;
  };
  const full = await closedLoop('GET …/history 30 d × 1 h (200, full body)', () => httpGet(agent, url));
  const conditional = etag
    ? await closedLoop('GET …/history with If-None-Match (304)', () =>
        httpGet(agent, url, { headers: { 'if-none-match': etag }, expect: 304 }),
      )
    : undefined;
  agent.destroy();

  const repository = createPriceHistoryRepository(context.db);
  const range = { first, last, intervalMs: HOUR };
  const queryOnly = await closedLoop('its query alone (Kysely + pg, pool of 10, in the bench process)', () =>
    repository.buckets(marketId!, range),
  );
  context.log(`measuring its SQL through pgbench -M prepared, ${PG_CLIENTS} clients`);
  const pgbench = await runPgbench({
    url: context.databaseUrl,
    query: repository.bucketsQuery(marketId!, range).compile(context.db),
    clients: PG_CLIENTS,
    threads: 2,
    durationSeconds: context.durationSeconds,
    scratchDir: context.tmpDir,
    name: 'history',
  });
  context.log(`  ${pgbench.tps} tps, ${pgbench.latencyAverage} ms average, ${pgbench.failed} failed`);

  const ratio = (reqPerSec: number) => `${Math.round((reqPerSec / pgbench.tps) * 100)} %`;
  const row = (label: string, r: LoadResult) => [
    label,
    r.reqPerSec,
    r.p50,
    r.p95,
    r.p99,
    r.errors,
    ratio(r.reqPerSec),
  ];
  return [
    `One market with ${seeded.trades} trades over 30 days; \`GET /api/markets/:id/history?interval=1h&from=…&to=…\` answering ${BUCKETS} buckets (${Math.round(body.length / 1024)} KiB, \`Cache-Control: ${cacheControl}\`). ` +
      `The app keeps no cache of history: both HTTP rows run the query on every request; the 304 row skips only the body. ` +
      `HTTP and in-process rows: ${context.connections} callers in a closed loop, ${context.durationSeconds} s after ${context.warmupSeconds} s of warm-up; pgbench: ${PG_CLIENTS} clients (the app's pool size), 2 threads, ${context.durationSeconds} s, the route's own SQL and parameters. Latencies in ms.`,
    '',
    markdownTable(
      ['target', 'req/s', 'p50', 'p95', 'p99', 'errors', 'vs pgbench'],
      [
        row('GET …/history, 200 with the body (uncached)', full),
        ...(conditional ? [row('GET …/history, If-None-Match → 304 (query still runs)', conditional)] : []),
        row('its query alone: Kysely + pg, pool of 10 (no HTTP)', queryOnly),
        [
          `its SQL through pgbench -M prepared, ${PG_CLIENTS} clients`,
          pgbench.tps,
          '—',
          '—',
          '—',
          pgbench.failed,
          '100 %',
        ],
      ],
    ),
    '',
    `pgbench mean latency ${pgbench.latencyAverage} ms.`,
  ].join('\n');
}
