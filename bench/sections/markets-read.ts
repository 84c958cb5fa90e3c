import { createMarketRepository } from '../../src/modules/markets/markets.repository.ts';
import { recordResponse, startBareServer } from '../lib/bare-ceiling.ts';
import { runClosedLoop } from '../lib/closed-loop.ts';
import { runConstantRate } from '../lib/constant-rate.ts';
import type { LoadResult } from '../lib/load.ts';
import { markdownTable } from '../lib/markdown-table.ts';
import type { RunningServer } from '../lib/processes.ts';
import type { BenchSection } from '../lib/section.ts';
import { warmUpAndMeasure } from '../lib/warm-up-and-measure.ts';

const BY_ID = 'GET /api/markets/:id (1000 ids, cached after the first read)';

/**
 * Reads at saturation against the ceiling, a bare node:http server sending the by-id
 * response's bytes, on the default app (memory cache, warn-level logs, no rate limit): after
 * their first read, by-id and list requests are cache hits (the cache section runs the whole
 * stack). Rows that locate the cost: the app's liveness probe (every plugin, no database) and the
 * by-id query alone (in process, no HTTP). Then the by-id route at a fixed rate well under
 * saturation, where percentiles measure service time rather than queueing: steady
 * (constant-rate.ts), and with autocannon's per-second quotas to compare.
 */
export const marketsReadSection: BenchSection = {
  title: 'Market reads',
  async run(context) {
    const ids = await context.db.selectFrom('markets').select('id').orderBy('id').limit(1000).execute();
    const byIdPaths = ids.map(({ id }) => `/api/markets/${id}`);
    const listPath = '/api/markets?status=active&sort=volume&limit=20';

    const bare = await startBareServer(
      context.tmpDir,
      'market',
      await recordResponse(`${context.app.url}${byIdPaths[0]}`),
    );

    try {
      const measure = (label: string, server: RunningServer, paths: string[], rate?: number) =>
        warmUpAndMeasure(context, label, { url: server.url, paths, overallRate: rate });
      const ceiling = await measure('bare node:http (same response as by id)', bare, byIdPaths);
      const probe = await measure('GET /healthz', context.app, ['/healthz']);
      const byId = await measure(BY_ID, context.app, byIdPaths);
      context.log('measuring findById alone (Kysely + pg, pool of 10, in the bench process)');
      const repository = createMarketRepository(context.db);
      const queryOnly = await runClosedLoop({
        call: (i) => repository.findById(ids[i % ids.length]!.id),
        concurrency: context.connections,
        durationSeconds: context.durationSeconds,
      });
      const list = await measure(`GET ${listPath} (cached)`, context.app, [listPath]);
      const bursts = await measure(
        `GET /api/markets/:id, autocannon overallRate ${context.rate}`,
        context.app,
        byIdPaths,
        context.rate,
      );
      context.log(`measuring GET /api/markets/:id at a steady ${context.rate} req/s`);
      const steady = await runConstantRate({
        url: context.app.url,
        paths: byIdPaths,
        rate: context.rate,
        durationSeconds: context.durationSeconds,
        connections: context.connections,
      });
      const row = (label: string, r: LoadResult, ratio: boolean) => [
        label,
        r.reqPerSec,
        r.p50,
        r.p95,
        r.p99,
        r.errors,
        ratio ? `${Math.round((r.reqPerSec / ceiling.reqPerSec) * 100)} %` : '—',
      ];
      return [
        `${context.connections} connections, ${context.durationSeconds} s each after ${context.warmupSeconds} s of warm-up; latencies in ms.`,
        '',
        markdownTable(
          ['target', 'req/s', 'p50', 'p95', 'p99', 'errors', 'vs bare'],
          [
            row('bare node:http (same response as by id)', ceiling, true),
            row('GET /healthz (app, no database)', probe, true),
            row(BY_ID, byId, true),
            row('its query alone: findById, pool of 10 (no HTTP)', queryOnly, true),
            row(`GET ${listPath} (cached)`, list, true),
            row(`GET /api/markets/:id, steady ${context.rate} req/s (open loop)`, steady, false),
            row(`GET /api/markets/:id, autocannon overallRate ${context.rate} (bursts)`, bursts, false),
          ],
        ),
      ].join('\n');
    } finally {
      await bare.stop();
    }
  },
};
