import type { FastifyBaseLogger } from 'fastify';
import type { CacheAside } from '../../lib/cache/cache.ts';
import { startPeriodicTask } from '../../lib/periodic-task.ts';
import type { EventRepository } from '../events/index.ts';
import type { CachedMarketRepository } from './cached-markets.repository.ts';

/**
 * The seq of the last event whose keys the shared cache has dropped. It lives in the cache itself,
 * beside the entries it vouches for: a Redis restored from a snapshot brings back the cursor of
 * that moment together with the rows of that moment, and an empty Redis has no cursor at all.
 */
export const INVALIDATED_THROUGH_KEY = 'events:invalidated-through';
const BATCH = 1_000;
/** Further behind than this (a Redis restored from an old backup), dropping every entry is cheaper. */
const MAX_REPLAY = 20_000;

interface Deps {
  cache: CacheAside;
  events: Pick<EventRepository, 'changedMarketsAfter' | 'lastSeq'>;
  markets: Pick<CachedMarketRepository, 'cacheKeysOf'>;
  intervalMs: number;
  log: FastifyBaseLogger;
}

/**
 * Issue 11 item 5: what a write invalidates reaches every instance even if the writer dies while
 * Redis is away. Writers still delete their keys right after the commit; this is the safety net.
 * Every instance applies the log beyond the shared cursor (every `intervalMs`, and at once when its
 * Redis connection comes back), and does not read from the cache after a loss until it has.
 *
 * Why "seq > cursor" misses nothing: seq order is commit order (events.repository.ts), so an event
 * that commits after a run has read up to N has a seq above N. Keys are deleted before the cursor
 * moves, so whatever snapshot Redis is restored from, the cursor in it never claims a delete the
 * entries in it have not seen.
 */
export function startMarketCacheFollower({ cache, events, markets, intervalMs, log }: Deps) {
  async function applyLog(): Promise<void> {
    const stored = await cache.readRaw(INVALIDATED_THROUGH_KEY);
    if (stored === undefined) {
      // A Redis without a cursor holds no entry older than now: start from the end of the log.
      await cache.raiseRaw(INVALIDATED_THROUGH_KEY, await events.lastSeq());
      return;
    }
    let cursor = Number(stored);
    for (let first = true; ; first = false) {
      const changed = await events.changedMarketsAfter(cursor, BATCH);
      if (changed.length === 0) return;
      if (first && changed.length === BATCH) {
        const last = await events.lastSeq();
        if (last - cursor > MAX_REPLAY) {
          await cache.clear(); // the cursor goes with it: set it again below
          await cache.raiseRaw(INVALIDATED_THROUGH_KEY, last);
          log.warn({ behind: last - cursor }, 'cache far behind the event log: dropped every entry');
          return;
        }
      }
      await cache.deleteNow(markets.cacheKeysOf(changed));
      cursor = changed.at(-1)!.seq;
      await cache.raiseRaw(INVALIDATED_THROUGH_KEY, cursor);
      if (changed.length < BATCH) return;
    }
  }

  const task = startPeriodicTask(
    intervalMs,
    () => cache.catchUp(applyLog),
    // Redis or the database is away: counted, warned about once per interval, tried again.
    (error) => cache.recordError('catch-up', error),
  );
  cache.onReady(() => task.trigger());
  return task;
}
