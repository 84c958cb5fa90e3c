import type { FastifyInstance } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import { commentRateLimit } from '../../plugins/rate-limit.ts';
import type { EventRepository } from '../events/events.repository.ts';
import type { MarketRepository } from '../markets/markets.repository.ts';
import { createCommentRepository } from './comments.repository.ts';
import { commentsRoutes } from './comments.routes.ts';
import { createCommentsService } from './comments.service.ts';

interface Deps {
  database: Database;
  config: Config;
  markets: Pick<MarketRepository, 'findById' | 'findBySlug'>;
  events: EventRepository;
}

/** Wires comments: repository → service → routes under /api/markets/:id/comments. */
export async function registerComments(app: FastifyInstance, { database, config, markets, events }: Deps) {
  const service = createCommentsService({
    db: database.db,
    comments: createCommentRepository(database.db, database.read),
    markets,
    events,
  });
  await app.register(commentsRoutes(service, commentRateLimit(config)), { prefix: '/api/markets' });
  return service;
}
