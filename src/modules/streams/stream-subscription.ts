import type { EventFeedRepository } from '../events/index.ts';
import { type FramedEvent, frameEvent, type SseStream } from './sse-stream.ts';
import type { HubSubscriber, StreamHub } from './stream-hub.ts';

export interface SubscriptionOptions {
  /** Market ids to follow; null: every event. */
  markets: ReadonlySet<string> | null;
  /** Resume after this seq (Last-Event-ID, or the newest event for "live from now"). */
  after: number;
  /** Events per replay query. */
  pageSize: number;
  /** Live events held while the replay runs; past it the replay goes on further instead. */
  maxHeld: number;
  /** How long a replay waits for a client that does not read before cutting it off. */
  roomWaitMs: number;
}

const matches = (markets: ReadonlySet<string> | null, marketId: string | null) =>
  markets === null || (marketId !== null && markets.has(marketId));

/**
 * Runs one stream: replay from `after`, then live, with no gap and no duplicate.
 *
 * The subscriber joins the hub first and holds what it dispatches, then replays from the log in
 * pages until a page comes back short, then sends what it held, skipping seqs it already sent.
 * Why nothing is missed: an event the hub had dispatched before the subscriber joined had
 * committed before the first page was read, so a page returns it; any later one is held. Why
 * nothing is sent twice or out of order: seq order is commit order, so the pages and the held
 * events are both in seq order and overlap only in a range the skip removes.
 *
 * Held events are bounded: when they pass `maxHeld` (a replay of a long stretch while trades
 * pour in) they are dropped and held again from now, and the replay goes on, since the log has
 * them; the hand-over happens after a short page that started after the holding did.
 *
 * A resume point below the retention watermark gets one `reset` (its id the head of the log),
 * then continues after it.
 */
export async function runSubscription(
  stream: SseStream,
  hub: Pick<StreamHub, 'add' | 'remove' | 'head'>,
  feed: Pick<EventFeedRepository, 'page'>,
  options: SubscriptionOptions,
): Promise<void> {
  let held: FramedEvent[] | null = [];
  let overflowed = false;
  let lastSent = options.after;

  const subscriber: HubSubscriber = {
    markets: options.markets,
    receive(events, frame) {
      if (held === null) {
        // Live: the page as one write, unless the replay already sent part of it.
        if (events[0]!.seq > lastSent) {
          if (stream.send(frame)) lastSent = events.at(-1)!.seq;
          return;
        }
        for (const event of events)
          if (event.seq > lastSent && stream.send(event.frame)) lastSent = event.seq;
      } else if (!overflowed) {
        held.push(...events);
        if (held.length > options.maxHeld) {
          overflowed = true;
          held = [];
        }
      }
    },
    ping: () => stream.ping(),
  };
  hub.add(subscriber);
  stream.onClose(() => hub.remove(subscriber));

  const marketIds = options.markets ? [...options.markets] : null;
  let cursor = options.after;
  for (;;) {
    // Held from before this page is read: what commits after it is held.
    if (overflowed) {
      overflowed = false;
      held = [];
    }
    const page = await feed.page(cursor, marketIds, options.pageSize);
    if (stream.closed) return;
    if (page.prunedThrough > cursor) {
      // What the client missed is partly gone: it must refetch, then follow from the head.
      cursor = Math.max(page.prunedThrough, hub.head);
      const reset = JSON.stringify({ reason: 'resume point older than the retention', lastSeq: cursor });
      if (!stream.send(`id: ${cursor}\nevent: reset\ndata: ${reset}\n\n`)) return;
      lastSent = cursor;
      continue;
    }
    for (const event of page.events) {
      if (!matches(options.markets, event.marketId)) continue;
      if (stream.full && !(await stream.room(options.roomWaitMs))) {
        stream.end('slow-consumer');
        return;
      }
      if (!stream.send(frameEvent(event))) return;
      cursor = lastSent = event.seq;
    }
    if (page.events.length < options.pageSize && !overflowed) break;
  }

  const pending = held ?? [];
  held = null;
  for (const event of pending) {
    if (event.seq <= lastSent) continue;
    if (!stream.send(event.frame)) return;
    lastSent = event.seq;
  }
}
