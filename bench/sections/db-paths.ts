import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { recordResponse, startBareServer } from '../lib/bare-ceiling.ts';
import type { LoadResult } from '../lib/load.ts';
import { markdownTable } from '../lib/markdown-table.ts';
import { medianRun } from '../lib/median-run.ts';
import { initTpcb, type PgbenchResult, runPgbench, runTpcb } from '../lib/pgbench.ts';
import type { RunningServer } from '../lib/processes.ts';
import { createRouteSql } from '../lib/route-sql.ts';
import type { BenchContext, BenchFigure, BenchSection } from '../lib/section.ts';
import { createThrowawayDatabase, type ThrowawayDatabase } from '../lib/throwaway-database.ts';
import { warmUpAndMeasure } from '../lib/warm-up-and-measure.ts';

/** Ids the by-id rows rotate over: the HTTP passes and pgbench (one script each, at most 128) alike. */
const IDS = 100;
const LIST_PATH = '/api/markets?status=active&sort=volume&limit=20';
/** Everything measured takes turns this many times; the medians are reported. */
const ROUNDS = 3;
/** Every read a miss: no row cache, no list cache (src/config/env.ts). */
const UNCACHED = { CACHE_TTL_SECONDS: '0', LIST_CACHE_TTL_SECONDS: '0' };
const TPCB_SCALES = [1, 10] as const;
/**
 * pgbench clients: the app's pool size, so both sides run as many queries at once (and a shared
 * server's max_connections is not exhausted: 50 clients beside the apps' pools were refused).
 */
const PG_CLIENTS = 10;
const TARGETS = { byId: 50, list: 40 };

interface Route {
  label: string;
  paths: string[];
  /** The route's own SQL for each path, for pgbench. */
  sql: Awaited<ReturnType<ReturnType<typeof createRouteSql>['byId']>>[];
  /** pgbench session settings for this SQL. */
  settings?: Record<string, string>;
  /** Measured on this app instead of the main one, against the pgbench runs of route `sameSqlAs`. */
  variant?: { server: RunningServer; sameSqlAs: number };
}

/**
 * PostgreSQL's generic plan of the category-and-tag page (chosen after five executions of a
 * prepared statement) intersects both indexes and sorts every match: 630 ms against 29 ms for the
 * custom plan at 100k markets. pgbench then measures a plan the app never runs (it does not
 * prepare list pages, see prepared-statements.ts): this row's pgbench plans each execution.
 */
const CUSTOM_PLANS = { plan_cache_mode: 'force_custom_plan' };

/**
 * Uncached reads through the whole app against PostgreSQL itself (issue 16): each route's own
 * SQL, captured from the service the route calls (route-sql.ts), run by `pgbench -M prepared` on
 * the same database in the same run, beside a bare node:http server and pgbench's TPC-B script
 * (scale 1: one hot branch row; scale 10: spread). The app runs with both caches off, checked by
 * its statement counter. Everything takes turns over the rounds, so a change in the shared
 * machine's speed falls on both sides of each ratio; the medians are reported.
 */
export const dbPathsSection: BenchSection = {
  title: 'Database paths: uncached reads against pgbench on the same SQL',
  async run(context) {
    const metricsToken = randomBytes(16).toString('hex');
    const servers: RunningServer[] = [];
    const tpcb: { scale: number; database: ThrowawayDatabase }[] = [];
    try {
      const app = await context.startApp({ ...UNCACHED, METRICS_TOKEN: metricsToken });
      servers.push(app);
      const routes = await chooseRoutes(context, app);
      await assertEveryReadMisses(app, metricsToken, routes);
      // The step prepared-statements.ts takes, measured: the same by-id reads with it turned off.
      const unprepared = await context.startApp({ ...UNCACHED, DATABASE_PREPARED_STATEMENTS: 'false' });
      servers.push(unprepared);
      routes.push({
        ...routes[0]!,
        label: `${routes[0]!.label}, DATABASE_PREPARED_STATEMENTS=false`,
        variant: { server: unprepared, sameSqlAs: 0 },
      });

      const bare = await startBareServer(
        context.tmpDir,
        'db-paths-market',
        await recordResponse(`${app.url}${routes[0]!.paths[0]}`),
      );
      servers.push(bare);

      for (const scale of TPCB_SCALES) {
        context.log(`pgbench -i -s ${scale} into its own database`);
        const database = await createThrowawayDatabase(context.adminUrl, `markets_bench_tpcb${scale}`);
        tpcb.push({ scale, database });
        await initTpcb(database.url, scale);
      }

      const load = { clients: PG_CLIENTS, threads: 2, durationSeconds: context.durationSeconds };
      const bareRuns: LoadResult[] = [];
      const httpRuns: LoadResult[][] = routes.map(() => []);
      const pgbenchRuns: PgbenchResult[][] = routes.map(() => []);
      const tpcbRuns: PgbenchResult[][] = tpcb.map(() => []);
      for (let round = 1; round <= ROUNDS; round++) {
        const prefix = `round ${round}/${ROUNDS}:`;
        bareRuns.push(await warmUpAndMeasure(context, `${prefix} bare node:http`, { url: bare.url }));
        for (const [index, route] of routes.entries()) {
          const server = route.variant?.server ?? app;
          httpRuns[index]!.push(
            await warmUpAndMeasure(context, `${prefix} ${route.label}`, {
              url: server.url,
              paths: route.paths,
            }),
          );
          if (route.variant) continue;
          context.log(`measuring ${prefix} its SQL through pgbench -M prepared`);
          const result = await runPgbench({
            ...load,
            url: context.databaseUrl,
            query: route.sql,
            settings: route.settings,
            scratchDir: context.tmpDir,
            name: `db-paths-${index}`,
          });
          context.log(`  ${result.tps} tps, ${result.latencyAverage} ms average, ${result.failed} failed`);
          pgbenchRuns[index]!.push(result);
        }
        for (const [index, { scale, database }] of tpcb.entries()) {
          context.log(`measuring ${prefix} pgbench TPC-B, scale ${scale}`);
          const result = await runTpcb({ ...load, url: database.url });
          context.log(`  ${result.tps} tps, ${result.failed} failed`);
          tpcbRuns[index]!.push(result);
        }
      }

      return report(context, routes, {
        bare: medianRun(bareRuns, (r) => r.reqPerSec),
        http: httpRuns,
        pgbench: routes.map((route, index) => pgbenchRuns[route.variant?.sameSqlAs ?? index]!),
        tpcb: tpcb.map(({ scale }, index) => ({ scale, result: medianRun(tpcbRuns[index]!, (r) => r.tps) })),
      });
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
      await Promise.all(tpcb.map(({ database }) => database.drop()));
    }
  },
};

/** By id over IDS ids, the first list page, the page after it (cursor), a page filtered by category and tag. */
async function chooseRoutes(context: BenchContext, app: RunningServer): Promise<Route[]> {
  const routeSql = createRouteSql(context.db);
  const ids = await context.db.selectFrom('markets').select('id').orderBy('id').limit(IDS).execute();
  const first = await fetch(`${app.url}${LIST_PATH}`);
  const { meta } = (await first.json()) as { meta: { nextCursor: string | null } };
  if (!meta.nextCursor) throw new Error(`GET ${LIST_PATH} has no next page to measure`);
  const cursorPath = `${LIST_PATH}&cursor=${encodeURIComponent(meta.nextCursor)}`;
  // The commonest category and tag together: a page that has 20 rows to show.
  const { rows } = await sql<{ category: string; tag: string }>`
    select category, tag from markets, unnest(tags) as tag
    group by category, tag order by count(*) desc limit 1`.execute(context.db);
  const { category, tag } = rows[0]!;
  const filteredPath = `/api/markets?category=${encodeURIComponent(category)}&tag=${encodeURIComponent(tag)}&limit=20`;

  const byIdPaths = ids.map(({ id }) => `/api/markets/${id}`);
  // One capture at a time: each records the query of the read in flight.
  const byIdSql = [];
  for (const { id } of ids) byIdSql.push(await routeSql.byId(id));
  const routes: Route[] = [
    {
      label: `GET /api/markets/:id (${IDS} ids)`,
      paths: byIdPaths,
      sql: byIdSql,
    },
    { label: `GET ${LIST_PATH}`, paths: [LIST_PATH], sql: [await routeSql.list(LIST_PATH)] },
    {
      label: 'GET …the same with &cursor= (page 2)',
      paths: [cursorPath],
      sql: [await routeSql.list(cursorPath)],
    },
    {
      label: `GET /api/markets?category=${category}&tag=${tag}&limit=20`,
      paths: [filteredPath],
      sql: [await routeSql.list(filteredPath)],
      settings: CUSTOM_PLANS,
    },
  ];
  for (const route of routes) {
    const response = await fetch(`${app.url}${route.paths[0]}`);
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`GET ${route.paths[0]} answered ${response.status}`);
  }
  return routes;
}

/** Reads each route twice and checks that both reached the database: with these settings nothing is cached. */
async function assertEveryReadMisses(app: RunningServer, token: string, routes: readonly Route[]) {
  const statements = async () => {
    const response = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    const match = /^\w*db_queries_total(?:\{[^}]*\})? (\d+)/m.exec(await response.text());
    if (!match) throw new Error('/metrics shows no db_queries_total');
    return Number(match[1]);
  };
  for (const route of routes) {
    const before = await statements();
    for (let i = 0; i < 2; i++) await (await fetch(`${app.url}${route.paths[0]}`)).arrayBuffer();
    const ran = (await statements()) - before;
    if (ran < 2) throw new Error(`${route.label}: two reads ran ${ran} statements; the app is caching`);
  }
}

function report(
  context: BenchContext,
  routes: readonly Route[],
  runs: {
    bare: LoadResult;
    http: LoadResult[][];
    pgbench: PgbenchResult[][];
    tpcb: { scale: number; result: PgbenchResult }[];
  },
) {
  const percent = (share: number) => (Number.isFinite(share) ? `${Math.round(share * 100)} %` : '—');
  const rows: (string | number)[][] = [];
  const figures: BenchFigure[] = [];
  const notes: string[] = [];
  const bare = runs.bare.reqPerSec;
  rows.push([
    `bare node:http (same response as by id)`,
    bare,
    runs.bare.p50,
    runs.bare.p95,
    runs.bare.p99,
    runs.bare.errors,
    '—',
    '100 %',
  ]);
  figures.push({
    target: 'bare node:http',
    perSecond: bare,
    p50: runs.bare.p50,
    p95: runs.bare.p95,
    p99: runs.bare.p99,
    errors: runs.bare.errors,
  });
  for (const [index, route] of routes.entries()) {
    const http = medianRun(runs.http[index]!, (r) => r.reqPerSec);
    const pg = medianRun(runs.pgbench[index]!, (r) => r.tps);
    const shares = runs.http[index]!.map((r, i) => r.reqPerSec / runs.pgbench[index]![i]!.tps);
    const share = http.reqPerSec / pg.tps;
    const figure: BenchFigure = {
      target: `${route.label}, uncached`,
      perSecond: http.reqPerSec,
      p50: http.p50,
      p95: http.p95,
      p99: http.p99,
      errors: http.errors,
      ratios: { pgbench: round(share), bare: round(http.reqPerSec / bare) },
    };
    rows.push([
      `${route.label}, uncached`,
      http.reqPerSec,
      http.p50,
      http.p95,
      http.p99,
      http.errors,
      percent(share),
      percent(http.reqPerSec / bare),
    ]);
    if (route.variant) {
      figures.push(figure);
      notes.push(
        `${route.label}: ${percent(share)} of pgbench on its SQL; rounds ${shares.map(percent).join(', ')}.`,
      );
      continue;
    }
    const how = Object.entries(route.settings ?? {}).map(([name, value]) => `, ${name}=${value}`);
    rows.push([
      `  its SQL through pgbench -M prepared${how.join('')}`,
      pg.tps,
      '—',
      '—',
      '—',
      pg.failed,
      '100 %',
      percent(pg.tps / bare),
    ]);
    figures.push(figure);
    figures.push({
      target: `${route.label}: its SQL, pgbench -M prepared`,
      perSecond: pg.tps,
      errors: pg.failed,
      ratios: { bare: round(pg.tps / bare) },
    });
    const target = index === 0 ? TARGETS.byId : index === 1 ? TARGETS.list : undefined;
    const verdict =
      target === undefined ? '' : ` (target ≥ ${target} %: ${share * 100 >= target ? 'met' : 'not met'})`;
    notes.push(
      `${route.label}: ${percent(share)} of pgbench on its SQL${verdict}; rounds ${shares.map(percent).join(', ')}.`,
    );
  }
  for (const { scale, result } of runs.tpcb) {
    const label = `pgbench TPC-B (tpcb-like), scale ${scale}${scale === 1 ? ' (one hot branch row)' : ''}`;
    rows.push([label, result.tps, '—', '—', '—', result.failed, '—', percent(result.tps / bare)]);
    figures.push({
      target: label,
      perSecond: result.tps,
      errors: result.failed,
      ratios: { bare: round(result.tps / bare) },
    });
  }
  const markdown = [
    `HTTP rows: ${context.connections} connections, ${context.durationSeconds} s each after ${context.warmupSeconds} s of warm-up, on an app with CACHE_TTL_SECONDS=0 and LIST_CACHE_TTL_SECONDS=0 (every read a miss, checked by its statement counter; pool of 10). ` +
      `pgbench rows: ${PG_CLIENTS} clients (the app's pool size), 2 threads, ${context.durationSeconds} s, -M prepared, the route's own SQL and parameters (by id: one script per id, the same ${IDS} ids). ` +
      `Everything took turns ${ROUNDS} times; rows are medians (by throughput). Latencies in ms. "vs pgbench": the route's req/s as a share of pgbench's tps on its SQL; "vs bare": of a bare node:http server sending the by-id response, headers and body.`,
    '',
    markdownTable(
      ['target', 'req/s or tps', 'p50', 'p95', 'p99', 'errors', 'vs pgbench same SQL', 'vs bare'],
      rows,
    ),
    '',
    ...notes,
  ].join('\n');
  return { markdown, figures };
}

function round(share: number): number {
  return Math.round(share * 1000) / 1000;
}
