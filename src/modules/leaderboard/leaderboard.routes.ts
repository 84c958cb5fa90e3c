import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { errorResponses } from '../../lib/http-schemas.ts';
import { userIdParams } from '../users/users.schemas.ts';
import {
  boardQuery,
  boardResponse,
  historyQuery,
  historyResponse,
  myRankQuery,
  myRankResponse,
  portfolioResponse,
} from './leaderboard.schemas.ts';
import type { LeaderboardService } from './leaderboard.service.ts';

/** Portfolio and leaderboards: the caller's under /api/me, public history and boards. */
export function leaderboardRoutes(service: LeaderboardService): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/api/me/portfolio',
      {
        config: { permission: 'read', scope: 'read' },
        schema: {
          tags: ['portfolio'],
          summary: 'Your positions valued at what selling them now returns, profit and net worth',
          response: { 200: portfolioResponse, ...errorResponses(401, 403) },
        },
      },
      async (request) => ({ success: true as const, data: await service.portfolio(request.user!.id) }),
    );

    app.get(
      '/api/users/:id/portfolio/history',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['portfolio'],
          summary: "A user's daily portfolio snapshots (PORTFOLIO_SNAPSHOT_CRON), oldest first",
          params: userIdParams,
          querystring: historyQuery,
          response: { 200: historyResponse, ...errorResponses(400, 404) },
        },
      },
      async (request) => ({
        success: true as const,
        data: await service.history(request.params.id, request.query.period),
      }),
    );

    app.get(
      '/api/leaderboard',
      {
        config: { permission: 'public' },
        schema: {
          tags: ['portfolio'],
          summary: 'Ranked users by profit or volume, or creators by distinct traders, in a period',
          description:
            'Served from aggregates rebuilt by LEADERBOARD_REFRESH_CRON; `meta.refreshedAt` says when.',
          querystring: boardQuery,
          response: { 200: boardResponse, ...errorResponses(400) },
        },
      },
      async (request) => {
        const { by, period, limit, cursor } = request.query;
        return { success: true as const, ...(await service.board(by, period, { limit, cursor })) };
      },
    );

    app.get(
      '/api/me/leaderboard',
      {
        config: { permission: 'read', scope: 'read' },
        schema: {
          tags: ['portfolio'],
          summary: 'Your rank and value on one board (null when you are not on it)',
          querystring: myRankQuery,
          response: { 200: myRankResponse, ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => ({
        success: true as const,
        data: await service.myRank(request.user!.id, request.query.by, request.query.period),
      }),
    );
  };
}
