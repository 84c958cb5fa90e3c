import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import { defineModule } from '../module.ts';
import { createEventFeedRepository } from './event-feed.repository.ts';
import { pruneEventsOlderThan } from './event-retention.repository.ts';
import { createEventRepository } from './events.repository.ts';

export type { EventFeedRepository, FeedEvent } from './event-feed.repository.ts';
export { EVENT_GROUPS, isEventSelector, KNOWN_EVENT_TYPES } from './event-types.ts';
export { EVENTS_CHANNEL, type EventRepository } from './events.repository.ts';

interface Deps {
  database: Pick<Database, 'db'>;
  config: Pick<Config, 'EVENT_RETENTION_HOURS' | 'EVENT_PRUNE_CRON'>;
  log: FastifyBaseLogger;
}

/**
 * The event log (issue 13): `events` appends in the writer's transaction (every module that changes
 * state), `feed` reads it in order (streams), and the log's retention is a schedule that prunes
 * events older than EVENT_RETENTION_HOURS (EVENT_PRUNE_CRON, once per deployment).
 */
export function createEventsModule({ database, config, log }: Deps) {
  return defineModule({
    events: createEventRepository(database.db),
    feed: createEventFeedRepository(database.db),
    schedules: [
      {
        name: 'maintenance.prune-events',
        cron: config.EVENT_PRUNE_CRON,
        async run() {
          const pruned = await pruneEventsOlderThan(database.db, config.EVENT_RETENTION_HOURS);
          if (pruned > 0) log.info({ pruned }, 'events past the retention pruned');
        },
      },
    ],
  });
}
