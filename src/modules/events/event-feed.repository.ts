import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/schema.ts';

/** One event as streams send it: the payload stays the JSON text PostgreSQL holds (one line). */
export interface FeedEvent {
  seq: number;
  type: string;
  marketId: string | null;
  payload: string;
}

export interface LogBounds {
  /** The highest seq a client can have seen (the newest event, or the watermark if everything was pruned). */
  head: number;
  /** Every seq up to this may have been pruned (009_event_retention.sql). */
  prunedThrough: number;
}

export type EventFeedRepository = ReturnType<typeof createEventFeedRepository>;

/**
 * What streams read from the event log. `seq > N` misses nothing that commits later, because seq
 * order is commit order (events.repository.ts).
 */
export function createEventFeedRepository(db: Kysely<DB>) {
  return {
    async bounds(): Promise<LogBounds> {
      const { rows } = await sql<LogBounds>`
        select greatest((select max(seq) from events), pruned_through)::int8 as "head",
               pruned_through as "prunedThrough"
        from event_log_state`.execute(db);
      return rows[0] ?? { head: 0, prunedThrough: 0 };
    },

    /** Which of these market ids the log has events of (a deleted market's stay). */
    async marketsWithEvents(marketIds: readonly string[]): Promise<Set<string>> {
      if (marketIds.length === 0) return new Set();
      const { rows } = await sql<{ marketId: string }>`
        select distinct market_id as "marketId" from events
        where market_id = any(${sql.val(marketIds)}::uuid[])`.execute(db);
      return new Set(rows.map((r) => r.marketId));
    },

    /** Every event after `seq`, oldest first (the hub's one query per wake-up for all its subscribers). */
    async after(seq: number, limit: number): Promise<FeedEvent[]> {
      const { rows } = await sql<FeedEvent>`
        select seq, type, market_id as "marketId", payload::text as payload
        from events where seq > ${seq} order by seq limit ${limit}`.execute(db);
      return rows;
    },

    /**
     * One replay page: the events after `seq` (of `marketIds`, or all), and the watermark, read in
     * one statement, so one snapshot: a prune that deleted some of them is seen together with the
     * watermark it raised, never half.
     */
    async page(
      seq: number,
      marketIds: readonly string[] | null,
      limit: number,
    ): Promise<{ prunedThrough: number; events: FeedEvent[] }> {
      const { rows } = await sql<FeedEvent & { prunedThrough: number }>`
        select s.pruned_through as "prunedThrough", e.seq, e.type, e.market_id as "marketId", e.payload
        from event_log_state s
        left join lateral (
          select seq, type, market_id, payload::text as payload from events
          where seq > ${seq}
          ${marketIds ? sql`and market_id = any(${sql.val(marketIds)}::uuid[])` : sql``}
          order by seq limit ${limit}
        ) e on true`.execute(db);
      const prunedThrough = Number(rows[0]?.prunedThrough ?? 0);
      return {
        prunedThrough,
        events: rows.filter((r) => r.seq !== null).map(({ prunedThrough: _, ...event }) => event),
      };
    },
  };
}
