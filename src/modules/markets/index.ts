import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.ts';
import type { UserRepository } from '../users/users.repository.ts';
import { createMarketRepository } from './markets.repository.ts';
import { marketsRoutes } from './markets.routes.ts';
import { createMarketsService } from './markets.service.ts';

/** Wires markets: repository → service → routes under /api/markets. */
export async function registerMarkets(
  app: FastifyInstance,
  deps: { database: Database; users: UserRepository },
) {
  const markets = createMarketRepository(deps.database.db);
  const service = createMarketsService({ markets, users: deps.users });
  await app.register(marketsRoutes(service), { prefix: '/api/markets' });
  return { markets, service };
}
