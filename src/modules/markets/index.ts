import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.ts';
import type { UserRepository } from '../users/users.repository.ts';
import { createMarketRepository } from './markets.repository.ts';
import { marketsRoutes } from './markets.routes.ts';
import { type AfterWrite, createMarketsService } from './markets.service.ts';

/** Wires markets: repository → service → routes under /api/markets. */
export async function registerMarkets(
  app: FastifyInstance,
  deps: { database: Database; users: UserRepository; afterWrite?: AfterWrite['hook'] },
) {
  const { db } = deps.database;
  const markets = createMarketRepository(db);
  const afterWrite: AfterWrite | undefined = deps.afterWrite && {
    transaction: (fn) => db.transaction().execute(fn),
    hook: deps.afterWrite,
  };
  const service = createMarketsService({ markets, users: deps.users, afterWrite });
  await app.register(marketsRoutes(service), { prefix: '/api/markets' });
  return { markets, service };
}
