import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { Config } from '../../config/env.ts';
import type { Database } from '../../db/database.ts';
import type { EventFeedRepository } from '../events/index.ts';
import type { MarketsService } from '../markets/index.ts';
import { defineModule } from '../module.ts';
import { listenForAppends } from './event-wakeup.ts';
import { createStreamHub } from './stream-hub.ts';
import { createStreamSlots } from './stream-slots.ts';
import { streamsRoutes } from './streams.routes.ts';
import { createStreamsService } from './streams.service.ts';

type StreamsConfig = Pick<
  Config,
  | 'STREAM_HEARTBEAT_MS'
  | 'STREAM_POLL_INTERVAL_MS'
  | 'STREAM_MAX_BUFFER_BYTES'
  | 'STREAMS_PER_CLIENT'
  | 'STREAM_RETRY_MS'
>;

interface Deps {
  /** LISTEN/NOTIFY for the wake-ups. */
  database: Database;
  config: StreamsConfig;
  feed: EventFeedRepository;
  markets: Pick<MarketsService, 'idsOf'>;
  clientOf: (request: FastifyRequest) => Promise<string>;
  /** Aborted when the instance starts draining: open streams end with a `retry:` advice. */
  draining: AbortSignal;
  log: FastifyBaseLogger;
}

/**
 * Wires the streams (issue 13 item 2): one hub per process tailing the event log, woken by every
 * commit (LISTEN/NOTIFY), and the routes under /api. The hub's poll is a loop of every API process
 * by nature (it serves that process's open streams), not maintenance. `hub.size` is what /metrics
 * reads (open streams).
 */
export async function createStreamsModule({
  database,
  config,
  feed,
  markets,
  clientOf,
  draining,
  log,
}: Deps) {
  const hub = createStreamHub({
    feed,
    pollIntervalMs: config.STREAM_POLL_INTERVAL_MS,
    heartbeatMs: config.STREAM_HEARTBEAT_MS,
    log,
  });
  await hub.start();
  const wakeup = await listenForAppends(database, () => hub.wake(), log);
  const service = createStreamsService({
    markets,
    feed,
    hub,
    slots: createStreamSlots(config.STREAMS_PER_CLIENT),
    heartbeatMs: config.STREAM_HEARTBEAT_MS,
  });
  return defineModule({
    hub,
    routes: async (app) => {
      await app.register(
        streamsRoutes({
          service,
          clientOf,
          draining,
          stream: { maxBufferBytes: config.STREAM_MAX_BUFFER_BYTES, retryMs: config.STREAM_RETRY_MS },
        }),
        { prefix: '/api' },
      );
    },
    async onClose() {
      await wakeup.stop();
      await hub.stop();
    },
  });
}
