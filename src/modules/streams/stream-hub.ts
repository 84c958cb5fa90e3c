import type { FastifyBaseLogger } from 'fastify';
import { type PeriodicTask, startPeriodicTask } from '../../lib/periodic-task.ts';
import type { EventFeedRepository } from '../events/index.ts';
import { type FramedEvent, frameEvent } from './sse-stream.ts';

/** What the hub needs of a subscriber: which markets it follows (null: all), and where events go. */
export interface HubSubscriber {
  readonly markets: ReadonlySet<string> | null;
  /** Events of its markets, in seq order, and `frame`: their frames as one buffer, for one write. */
  receive(events: readonly FramedEvent[], frame: Buffer): void;
  ping(): void;
}

export type StreamHub = ReturnType<typeof createStreamHub>;

interface Deps {
  feed: Pick<EventFeedRepository, 'after' | 'bounds'>;
  pollIntervalMs: number;
  heartbeatMs: number;
  log: FastifyBaseLogger;
}

const BATCH = 1000;
/** Subscribers served between two turns of the event loop (see dispatch). */
const DELIVERIES_PER_TURN = 250;

const yieldTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const framesOf = (events: readonly FramedEvent[]) =>
  events.length === 1 ? events[0]!.frame : Buffer.concat(events.map((event) => event.frame));

/**
 * One per process: tails the event log for every open stream of this instance, one query per
 * wake-up whatever the number of subscribers (with none, only the log's head is read), and hands each event (framed once) to the
 * subscribers of its market and to those of every market. Woken by each commit (event-wakeup.ts)
 * and by a poll, the safety net; one timer pings every stream.
 *
 * `head` is the highest seq dispatched: everything up to it has been handed out, in order.
 */
export function createStreamHub({ feed, pollIntervalMs, heartbeatMs, log }: Deps) {
  const subscribers = new Set<HubSubscriber>();
  /** Those that follow every market. */
  const everything = new Set<HubSubscriber>();
  const byMarket = new Map<string, Set<HubSubscriber>>();
  let head = 0;
  /** Bumped by every add: a head probe that a join overlapped is not trusted (see pump). */
  let joins = 0;
  let task: PeriodicTask | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let failing = false;

  /**
   * Hands a page of events to their subscribers: each gets the events it follows as one write
   * (a page holds many when commits come faster than the fan-out), and subscribers with the same
   * events share one buffer. Between every DELIVERIES_PER_TURN subscribers the event loop turns,
   * so a thousand streams of a hot market do not hold up the trade that holds its lock. Pages are
   * dispatched one at a time (the pump awaits this), so each stream still gets them in seq order.
   */
  async function dispatch(events: readonly FramedEvent[]) {
    const deliveries: [HubSubscriber, readonly FramedEvent[], Buffer][] = [];
    if (everything.size > 0) {
      const frame = framesOf(events);
      for (const subscriber of everything) deliveries.push([subscriber, events, frame]);
    }
    const ofMarket = new Map<string, FramedEvent[]>();
    for (const event of events) {
      if (event.marketId === null || !byMarket.has(event.marketId)) continue;
      const list = ofMarket.get(event.marketId);
      if (list) list.push(event);
      else ofMarket.set(event.marketId, [event]);
    }
    const following = new Set<HubSubscriber>();
    for (const [marketId, ofOne] of ofMarket) {
      const frame = framesOf(ofOne);
      for (const subscriber of byMarket.get(marketId)!) {
        if (subscriber.markets!.size === 1) deliveries.push([subscriber, ofOne, frame]);
        else following.add(subscriber);
      }
    }
    // Followers of several markets: theirs, merged in seq order.
    for (const subscriber of following) {
      const theirs = events.filter(
        (event) => event.marketId !== null && subscriber.markets!.has(event.marketId),
      );
      deliveries.push([subscriber, theirs, framesOf(theirs)]);
    }
    for (let i = 0; i < deliveries.length; i++) {
      if (i > 0 && i % DELIVERIES_PER_TURN === 0) await yieldTurn();
      const [subscriber, theirs, frame] = deliveries[i]!;
      subscriber.receive(theirs, frame);
    }
  }

  async function pump() {
    if (subscribers.size === 0) {
      // Nobody here to hand events to: follow the head with one index probe instead of reading
      // and framing each event (every commit of any instance wakes every instance). A subscriber
      // that joins during the probe may read its first replay page from a snapshot older than
      // the probe's, so then the head stays put and the next pump reads the events from it.
      const joined = joins;
      const latest = (await feed.bounds()).head;
      if (joins === joined) head = Math.max(head, latest);
      if (failing) log.info({ head }, 'streams read the event log again');
      failing = false;
      return;
    }
    for (;;) {
      const events = await feed.after(head, BATCH);
      if (events.length > 0) {
        await dispatch(
          events.map((event) => ({ seq: event.seq, marketId: event.marketId, frame: frameEvent(event) })),
        );
        head = events.at(-1)!.seq;
      }
      if (failing) log.info({ head }, 'streams read the event log again');
      failing = false;
      if (events.length < BATCH) return;
    }
  }

  return {
    /** The highest seq handed to subscribers. */
    get head() {
      return head;
    },
    /** Open streams on this instance. */
    get size() {
      return subscribers.size;
    },

    async start() {
      head = (await feed.bounds()).head;
      task = startPeriodicTask(pollIntervalMs, pump, (error) => {
        // The database is away: subscribers keep their streams (and pings); nothing is skipped,
        // since the next read starts after the last event handed out.
        if (!failing) log.warn({ err: error }, 'streams cannot read the event log; retrying');
        failing = true;
      });
      heartbeat = setInterval(() => {
        for (const subscriber of subscribers) subscriber.ping();
      }, heartbeatMs).unref();
    },

    /** Reads the log now (a commit was notified). */
    wake() {
      task?.trigger();
    },

    add(subscriber: HubSubscriber) {
      joins++;
      subscribers.add(subscriber);
      if (!subscriber.markets) {
        everything.add(subscriber);
        return;
      }
      for (const id of subscriber.markets) {
        const set = byMarket.get(id) ?? new Set<HubSubscriber>();
        byMarket.set(id, set);
        set.add(subscriber);
      }
    },

    remove(subscriber: HubSubscriber) {
      subscribers.delete(subscriber);
      if (!subscriber.markets) {
        everything.delete(subscriber);
        return;
      }
      for (const id of subscriber.markets) {
        const set = byMarket.get(id);
        set?.delete(subscriber);
        if (set?.size === 0) byMarket.delete(id);
      }
    },

    async stop() {
      clearInterval(heartbeat);
      await task?.stop();
    },
  };
}
