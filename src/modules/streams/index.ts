import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import { startPeriodicTask } from '../../lib/periodic-task.ts';
import { createEventFeedRepository } from '../events/event-feed.repository.ts';
import { pruneEventsOlderThan } from '../events/event-retention.repository.ts';
import type { MarketsService } from '../markets/markets.service.ts';
import { listenForAppends } from './event-wakeup.ts';
import { createStreamHub } from './stream-hub.ts';
import { createStreamSlots } from './stream-slots.ts';
import { streamsRoutes } from './streams.routes.ts';
import { createStreamsService } from './streams.service.ts';

type StreamsConfig = Pick<
  Config,
  | 'EVENT_RETENTION_HOURS'
  | 'STREAM_HEARTBEAT_MS'
  | 'STREAM_POLL_INTERVAL_MS'
  | 'STREAM_MAX_BUFFER_BYTES'
  | 'STREAMS_PER_CLIENT'
  | 'STREAM_RETRY_MS'
>;

interface Deps {
  database: Database;
  config: StreamsConfig;
  markets: Pick<MarketsService, 'idsOf'>;
  clientOf: (request: FastifyRequest) => Promise<string>;
}

const HOUR_MS = 3_600_000;

/**
 * Wires the streams (issue 13 item 2): one hub per process tailing the event log, woken by every
 * commit (LISTEN/NOTIFY), the routes under /api, and the hourly pruning of events past the
 * retention. Returns what /metrics reads (open streams) and the hub's own stop.
 */
export async function registerStreams(app: FastifyInstance, { database, config, markets, clientOf }: Deps) {
  const feed = createEventFeedRepository(database.db);
  const hub = createStreamHub({
    feed,
    pollIntervalMs: config.STREAM_POLL_INTERVAL_MS,
    heartbeatMs: config.STREAM_HEARTBEAT_MS,
    log: app.log,
  });
  await hub.start();
  const wakeup = await listenForAppends(database, () => hub.wake(), app.log);
  const service = createStreamsService({
    markets,
    feed,
    hub,
    slots: createStreamSlots(config.STREAMS_PER_CLIENT),
    heartbeatMs: config.STREAM_HEARTBEAT_MS,
  });
  await app.register(
    streamsRoutes({
      service,
      clientOf,
      draining: app.draining,
      stream: { maxBufferBytes: config.STREAM_MAX_BUFFER_BYTES, retryMs: config.STREAM_RETRY_MS },
    }),
    { prefix: '/api' },
  );
  // Every instance runs it; an advisory lock lets one at a time do the work (the others skip).
  const retention = startPeriodicTask(
    HOUR_MS,
    async () => {
      const pruned = await pruneEventsOlderThan(database.db, config.EVENT_RETENTION_HOURS);
      if (pruned > 0) app.log.info({ pruned }, 'events past the retention pruned');
    },
    (error) => app.log.warn({ err: error }, 'pruning the event log failed; trying again in an hour'),
  );
  app.addHook('onClose', async () => {
    await retention.stop();
    await wakeup.stop();
    await hub.stop();
  });
  return { hub };
}
