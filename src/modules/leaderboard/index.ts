import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import type { CacheAside } from '../../lib/cache/cache.ts';
import { defineModule } from '../module.ts';
import { createHoldingsRepository } from './holdings.repository.ts';
import { createLeaderboardRepository } from './leaderboard.repository.ts';
import { leaderboardRoutes } from './leaderboard.routes.ts';
import { createLeaderboardService } from './leaderboard.service.ts';

interface Deps {
  database: Database;
  config: Pick<Config, 'PORTFOLIO_SNAPSHOT_CRON' | 'LEADERBOARD_REFRESH_CRON'>;
  users: { findById(id: string): Promise<unknown> };
  cache: Pick<CacheAside, 'read'>;
  log: FastifyBaseLogger;
  now?: () => Date;
}

/**
 * Wires portfolio and leaderboards: holdings (the ledger's reads) and the aggregates → service →
 * routes, plus two schedules: the daily portfolio snapshot and the boards' refresh.
 */
export function createLeaderboardModule({ database, config, users, cache, log, now }: Deps) {
  const holdings = createHoldingsRepository(database.read);
  const boards = createLeaderboardRepository(database.db, database.read, holdings);
  const service = createLeaderboardService({ db: database.db, holdings, boards, users, cache, now });
  return defineModule({
    service,
    routes: async (app) => {
      await app.register(leaderboardRoutes(service));
    },
    schedules: [
      {
        name: 'leaderboard.snapshot-portfolios',
        cron: config.PORTFOLIO_SNAPSHOT_CRON,
        async run() {
          const users = await service.snapshot();
          log.info({ users }, 'portfolio snapshots taken');
        },
      },
      {
        name: 'leaderboard.refresh',
        cron: config.LEADERBOARD_REFRESH_CRON,
        run: () => service.refresh(),
      },
    ],
  });
}
