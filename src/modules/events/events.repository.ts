import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { Trx } from '../../db/transaction.ts';
import type { KnownEventType } from './event-types.ts';

/** Every kind of change the log records (listed once, in event-types.ts); the payload is what the REST API answers for it. */
export type EventType = KnownEventType;

export interface NewEvent {
  type: EventType;
  marketId: string | null;
  payload: unknown;
}

/** What the cache invalidation reads back: which market changed, and its slug when the payload has one. */
export interface ChangedMarket {
  seq: number;
  marketId: string | null;
  slug: string | null;
}

export type EventRepository = ReturnType<typeof createEventRepository>;

/**
 * NOTIFY channel of the log. PostgreSQL delivers a notification when (and only if) the transaction
 * that sent it commits, to every session LISTENing on this database: the streams of every
 * instance wake up at the commit (src/modules/streams/event-wakeup.ts). It carries no payload: the
 * log is the truth, the notification only says "read it now". append_event (019_record_trade.sql)
 * sends it.
 */
export const EVENTS_CHANNEL = 'markets_events';

/**
 * The append-only event log (006_events.sql).
 *
 * Why `append` takes an advisory lock: a bigserial value is drawn when the row is inserted, not
 * when the transaction commits, so two concurrent transactions can commit out of order (the one
 * that drew 6 before the one that drew 5). A reader that has seen 6 and resumes from "seq > 6"
 * would never see 5. The transaction-level lock makes appends take turns from the insert to the
 * commit: the next appender draws its number only after the previous one has committed and is
 * visible (PostgreSQL releases a transaction's locks after it marks it committed), so seq order is
 * commit order. Rolled-back appends leave gaps, never reorderings.
 *
 * What it costs and why it cannot deadlock: the append must be the last statement of its
 * transaction (callers put it there), so the lock is held only for that one statement and the COMMIT, and
 * it is taken after every row lock the transaction needs; nothing waits for a row lock while
 * holding it, so it closes no cycle. Market writes on different markets still run in parallel up
 * to their append; only their commits are serialised (one commit's flush at a time).
 *
 * PGlite has a single connection, so there the lock is always free and order is trivially kept.
 */
export function createEventRepository(db: Kysely<DB>) {
  return {
    /**
     * Records one change inside the caller's transaction (append_event, 019_record_trade.sql); must
     * be its last statement. A trade's event is written by the trade's own statement
     * (ledger.repository recordTrade), which calls the same function.
     */
    async append(trx: Trx, event: NewEvent): Promise<void> {
      await sql`select append_event(${event.type}::text, ${event.marketId}::uuid, ${JSON.stringify(event.payload)}::jsonb)`.execute(
        trx,
      );
    },

    /**
     * The markets changed by the events after `seq`, oldest first, at most `limit` of them.
     * Comment events change no market row or list page: they are skipped, so a busy comment
     * thread does not keep emptying the shared cache.
     */
    changedMarketsAfter(seq: number, limit: number): Promise<ChangedMarket[]> {
      return db
        .selectFrom('events')
        .select(['seq', 'marketId', sql<string | null>`payload->>'slug'`.as('slug')])
        .where('seq', '>', seq)
        .where('type', 'not like', 'comment.%')
        .orderBy('seq')
        .limit(limit)
        .execute();
    },

    /** The newest seq, 0 for an empty log. */
    async lastSeq(): Promise<number> {
      const row = await db
        .selectFrom('events')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .executeTakeFirst();
      return Number(row?.seq ?? 0);
    },
  };
}
