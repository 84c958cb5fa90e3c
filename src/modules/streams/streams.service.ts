import { ApiError } from '../../lib/errors.ts';
import type { EventFeedRepository } from '../events/index.ts';
import type { MarketsService } from '../markets/index.ts';
import type { SseStream } from './sse-stream.ts';
import type { StreamHub } from './stream-hub.ts';
import type { StreamSlots } from './stream-slots.ts';
import { runSubscription } from './stream-subscription.ts';

export type StreamsService = ReturnType<typeof createStreamsService>;

export interface StreamRequest {
  /** Market ids or slugs; undefined: every event. */
  markets: string[] | undefined;
  /** Last-Event-ID. */
  after: number | undefined;
  /** Whose slot the stream takes (user:… or ip:…). */
  client: string;
}

/** A stream checked and ready to start: its markets resolved, its client's slot taken. */
export interface PreparedStream {
  markets: ReadonlySet<string> | null;
  /** Replay after this seq: Last-Event-ID, or the newest event when there is none. */
  after: number;
  release(): void;
}

interface Deps {
  markets: Pick<MarketsService, 'idsOf'>;
  feed: Pick<EventFeedRepository, 'bounds' | 'page' | 'marketsWithEvents'>;
  hub: StreamHub;
  slots: StreamSlots;
  heartbeatMs: number;
}

const PAGE_SIZE = 500;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_HELD = 10_000;

export function createStreamsService({ markets, feed, hub, slots, heartbeatMs }: Deps) {
  /**
   * Market ids for ids or slugs; 404 naming every unknown one. A deleted market's id still
   * streams when the log has its events: a client that was away when it was deleted resumes and
   * receives the market.deleted it missed, instead of a 404 that would stop its EventSource.
   */
  async function resolve(idsOrSlugs: string[]): Promise<Set<string>> {
    const found = await markets.idsOf(idsOrSlugs);
    const missing = idsOrSlugs.filter((_, i) => found[i] === undefined);
    const gone = await feed.marketsWithEvents(
      missing.filter((id) => UUID.test(id)).map((id) => id.toLowerCase()),
    );
    const unknown = missing.filter((id) => !gone.has(id.toLowerCase()));
    if (unknown.length > 0) throw ApiError.notFound(`Market ${unknown.join(', ')}`);
    return new Set([...(found.filter((id) => id !== undefined) as string[]), ...gone]);
  }

  return {
    /** Everything that can refuse a stream, before it starts: 429, 404, 400. */
    async prepare({ markets: wanted, after, client }: StreamRequest): Promise<PreparedStream> {
      const release = slots.take(client);
      if (!release) {
        throw new ApiError(429, 'TOO_MANY_STREAMS', 'Too many open streams; close one first', undefined, 5);
      }
      try {
        const ids = wanted ? await resolve(wanted) : null;
        // Live "from now" is a resume from the newest committed event: exact, where the hub's own
        // position may still trail a commit that happened before this request.
        const { head } = await feed.bounds();
        // An id nobody was ever sent: a client of another deployment, or a made-up number.
        if (after !== undefined && after > head) {
          throw ApiError.badRequest(`Last-Event-ID is beyond the newest event (${head})`);
        }
        return { markets: ids, after: after ?? head, release };
      } catch (error) {
        release();
        throw error;
      }
    },

    /** Runs a prepared stream until it ends; a database failure during the replay ends it with a reason. */
    async run(stream: SseStream, prepared: PreparedStream): Promise<void> {
      stream.onClose(prepared.release);
      try {
        await runSubscription(stream, hub, feed, {
          markets: prepared.markets,
          after: prepared.after,
          pageSize: PAGE_SIZE,
          maxHeld: MAX_HELD,
          roomWaitMs: Math.max(heartbeatMs, 1000),
        });
      } catch {
        // The client reconnects with Last-Event-ID and resumes exactly where this one stopped.
        stream.end('database-unavailable');
      }
    },
  };
}
