import { sql } from 'kysely';
import { createCacheAside } from '../../src/lib/cache/cache.ts';
import { createMemoryCache } from '../../src/lib/cache/memory-cache.ts';
import { createHoldingsRepository } from '../../src/modules/leaderboard/holdings.repository.ts';
import { createLeaderboardRepository } from '../../src/modules/leaderboard/leaderboard.repository.ts';
import { createLeaderboardService } from '../../src/modules/leaderboard/leaderboard.service.ts';
import { createBenchUsers } from '../lib/bench-users.ts';
import type { LoadResult } from '../lib/load.ts';
import { runLoad } from '../lib/load.ts';
import { markdownTable } from '../lib/markdown-table.ts';
import type { BenchSection } from '../lib/section.ts';
import { warmUpAndMeasure } from '../lib/warm-up-and-measure.ts';

const TRADERS = 200;
const POSITIONS_PER_TRADER = 20;

/**
 * Leaderboard and portfolio reads over `--leaderboard-trades` trades (default 100 000), inserted
 * straight in SQL (spread over 40 days, 200 traders, up to 500 markets) with one position per
 * trader and market: the ledger's balances and escrow are untouched, so it still balances. The
 * refresh (the LEADERBOARD_REFRESH_CRON job) runs once in this process and is timed, then the boards
 * and GET /api/me/portfolio are measured at saturation. A board read is one primary-key range of
 * leaderboard_entries (cached per refresh), whatever the number of trades.
 */
export const leaderboardSection: BenchSection = {
  title: 'Portfolio and leaderboards',
  async run(context) {
    const trades = context.leaderboardTrades;
    const users = await createBenchUsers(context.db, context.jwtSecret, {
      traders: TRADERS,
      label: 'leaderboard',
    });
    const markets = (
      await context.db
        .selectFrom('markets')
        .select('id')
        .where('status', '=', 'active')
        .where('type', '=', 'binary')
        .limit(500)
        .execute()
    ).map((m) => m.id);
    if (markets.length === 0) throw new Error('the leaderboard section needs seeded markets');
    context.log(`inserting ${trades} trades and ${TRADERS * POSITIONS_PER_TRADER} positions in SQL`);
    const inserted = performance.now();
    await sql`insert into trades (market_id, user_id, outcome, answer_index, side, amount, shares, probability_before, probability_after, created_at)
      select (${markets}::uuid[])[1 + i % ${markets.length}], (${users.traderIds}::uuid[])[1 + (i * 7919) % ${TRADERS}],
        case when i % 2 = 0 then 'YES' else 'NO' end, i % 2, 'buy', 100 + i % 5000, 1000000 + i % 3000000, 0.5, 0.5,
        now() - (i % 40) * interval '1 day' - (i % 86400) * interval '1 second'
      from generate_series(1, ${trades}) as i`.execute(context.db);
    await sql`insert into positions (user_id, market_id, outcome, answer_index, shares, cost_basis, net_spent)
      select (${users.traderIds}::uuid[])[1 + u], (${markets}::uuid[])[1 + (u * 31 + k) % ${markets.length}],
        'YES', 0, 5000000 + k * 100000, 300 + k * 10, 300 + k * 10
      from generate_series(0, ${TRADERS - 1}) as u, generate_series(0, ${POSITIONS_PER_TRADER - 1}) as k
      on conflict do nothing`.execute(context.db);
    const insertSeconds = (performance.now() - inserted) / 1000;

    const holdings = createHoldingsRepository(context.db);
    const service = createLeaderboardService({
      db: context.db,
      holdings,
      boards: createLeaderboardRepository(context.db, context.db, holdings),
      users: { findById: async () => true },
      cache: createCacheAside(createMemoryCache(), {
        log: { warn() {}, error() {} } as never,
        followed: false,
      }),
    });
    context.log('refreshing the boards (first run: every trade recounted)');
    let started = performance.now();
    await service.refresh();
    const fullRefresh = (performance.now() - started) / 1000;
    started = performance.now();
    await service.refresh();
    const recentRefresh = (performance.now() - started) / 1000;

    const measure = (label: string, path: string) =>
      warmUpAndMeasure(context, label, { url: context.app.url, paths: [path] });
    const profit = await measure(
      'GET /api/leaderboard?by=profit&period=all',
      '/api/leaderboard?by=profit&period=all',
    );
    const volume = await measure(
      'GET /api/leaderboard?by=volume&period=week&limit=100',
      '/api/leaderboard?by=volume&period=week&limit=100',
    );
    const auths = users.traderAuths;
    const portfolio = async () => {
      const options = {
        url: context.app.url,
        connections: context.connections,
        request: (n: number) => ({
          method: 'GET' as const,
          path: '/api/me/portfolio',
          headers: { authorization: auths[n % auths.length]! },
        }),
      };
      if (context.warmupSeconds > 0) await runLoad({ ...options, durationSeconds: context.warmupSeconds });
      context.log(`measuring GET /api/me/portfolio (${POSITIONS_PER_TRADER} positions each)`);
      return runLoad({ ...options, durationSeconds: context.durationSeconds });
    };
    const mine = await portfolio();
    const row = (label: string, r: LoadResult) => [label, r.reqPerSec, r.p50, r.p95, r.p99, r.errors];
    return {
      markdown: [
        `${trades} trades inserted in ${insertSeconds.toFixed(1)} s; refresh: ${fullRefresh.toFixed(2)} s the first time (every trade), ${recentRefresh.toFixed(2)} s after (the last two days); ${context.connections} connections, ${context.durationSeconds} s each; latencies in ms.`,
        '',
        markdownTable(
          ['target', 'req/s', 'p50', 'p95', 'p99', 'errors'],
          [
            row('GET /api/leaderboard?by=profit&period=all', profit),
            row('GET /api/leaderboard?by=volume&period=week&limit=100', volume),
            row(`GET /api/me/portfolio (${TRADERS} users, ${POSITIONS_PER_TRADER} positions each)`, mine),
          ],
        ),
      ].join('\n'),
      figures: [
        {
          target: 'leaderboard profit all',
          perSecond: profit.reqPerSec,
          p99: profit.p99,
          errors: profit.errors,
        },
        {
          target: 'leaderboard volume week',
          perSecond: volume.reqPerSec,
          p99: volume.p99,
          errors: volume.errors,
        },
        { target: 'me portfolio', perSecond: mine.reqPerSec, p99: mine.p99, errors: mine.errors },
        { target: 'leaderboard full refresh (s)', perSecond: 1 / fullRefresh },
      ],
    };
  },
};
