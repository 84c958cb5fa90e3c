import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import { commentRateLimit } from '../../plugins/rate-limit.ts';
import type { EventRepository } from '../events/index.ts';
import type { MarketRepository } from '../markets/index.ts';
import { defineModule } from '../module.ts';
import { createCommentRepository } from './comments.repository.ts';
import { commentsRoutes } from './comments.routes.ts';
import { createCommentsService } from './comments.service.ts';

interface Deps {
  database: Pick<Database, 'db' | 'read'>;
  config: Pick<Config, 'COMMENT_RATE_LIMIT_PER_MINUTE'>;
  markets: Pick<MarketRepository, 'findById' | 'findBySlug'>;
  events: Pick<EventRepository, 'append'>;
}

/** Wires comments: repository → service → routes under /api/markets/:id/comments. */
export function createCommentsModule({ database, config, markets, events }: Deps) {
  const service = createCommentsService({
    db: database.db,
    comments: createCommentRepository(database.db, database.read),
    markets,
    events,
  });
  return defineModule({
    routes: async (app) => {
      await app.register(commentsRoutes(service, commentRateLimit(config)), { prefix: '/api/markets' });
    },
  });
}
