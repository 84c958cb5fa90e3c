import type { Kysely } from 'kysely';
import type { DB, MarketRow } from '../../db/schema.ts';
import { inTransaction, type Trx } from '../../db/transaction.ts';
import { isPastClose } from '../../domain/market-status.ts';
import type { EventRepository } from '../events/index.ts';
import { toMarketDto } from './market-dto.ts';
import type { MarketRepository } from './markets.repository.ts';

/** Markets announced per transaction; a backlog takes several transactions in one run. */
const BATCH = 100;

/** Whether a market read under its row lock is closed by time but not announced yet (the sweep's own rule). */
export function closeIsDue(market: MarketRow, now = Date.now()): boolean {
  return market.status === 'active' && market.closeAnnouncedAt === null && isPastClose(market.closesAt, now);
}

/**
 * The market.closed payload: the market as GET answers it. Its status is closed by construction
 * (the database's clock said so); the application's clock is not asked, so a skew between the two
 * cannot produce a "closed" event that says active.
 */
export function closedMarketDto(market: MarketRow) {
  return toMarketDto(market, Math.max(Date.now(), market.closesAt.getTime()));
}

/**
 * Appends market.closed for markets already locked in `trx` (whose close is due), and records it;
 * the appends come last, as the event log requires. The sweep below uses it, and so does a
 * settlement that gets to a closed market before the sweep does, so that the close is still told.
 */
export async function announceCloses(
  trx: Trx,
  due: readonly MarketRow[],
  deps: { markets: Pick<MarketRepository, 'markCloseAnnounced'>; events: Pick<EventRepository, 'append'> },
): Promise<void> {
  await deps.markets.markCloseAnnounced(
    trx,
    due.map((m) => m.id),
  );
  for (const market of due) {
    await deps.events.append(trx, {
      type: 'market.closed',
      marketId: market.id,
      payload: closedMarketDto(market),
    });
  }
}

interface Deps {
  db: Kysely<DB>;
  markets: Pick<MarketRepository, 'lockDueCloses' | 'markCloseAnnounced'>;
  events: Pick<EventRepository, 'append'>;
  /** After the commit: the cache drops the market (its status filter on list pages moved). */
  onMarketChanged?: ((marketId: string) => Promise<void>) | undefined;
}

export type CloseAnnouncer = ReturnType<typeof createCloseAnnouncer>;

/**
 * Issue 13 item 1: each active market whose close time passes gets exactly one market.closed
 * event. Every process that runs workers sweeps for them every MARKET_CLOSE_INTERVAL_MS (the markets
 * module's sweep); the sweep is safe to run in any number of processes at once (see lockDueCloses):
 * the first to lock a market announces it, in the transaction that sets close_announced_at.
 */
export function createCloseAnnouncer({ db, markets, events, onMarketChanged }: Deps) {
  /** Announces every close that is due; the number announced. */
  async function announceDue(): Promise<number> {
    let total = 0;
    for (;;) {
      const announced = await inTransaction(db, async (trx) => {
        const due = await markets.lockDueCloses(trx, BATCH);
        if (due.length > 0) await announceCloses(trx, due, { markets, events });
        return due;
      });
      for (const market of announced) await onMarketChanged?.(market.id);
      total += announced.length;
      if (announced.length < BATCH) return total;
    }
  }

  return { announceDue };
}
