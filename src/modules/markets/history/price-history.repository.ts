import { type Kysely, sql } from 'kysely';
import type { DB } from '../../../db/schema.ts';

export type PriceHistoryRepository = ReturnType<typeof createPriceHistoryRepository>;

export interface BucketRow {
  start: Date;
  open: number;
  high: number;
  low: number;
  close: number;
  /** Cents traded in the bucket. */
  volume: number;
  trades: number;
}

export interface BucketRange {
  /** The first bucket's start, aligned to the interval (see price-history.service.ts). */
  first: Date;
  /** The last bucket's start. */
  last: Date;
  intervalMs: number;
}

/** The probability of a market nobody has traded: LMSR with no shares outstanding. */
const INITIAL_PROBABILITY = 0.5;

/** Read side of the trade ledger for charts: OHLC buckets of the YES probability. */
export function createPriceHistoryRepository(db: Kysely<DB>) {
  /**
   * Every bucket of [first, last + interval) in one query, ascending. The ledger stores the
   * probability of the outcome traded, so a NO trade's is turned into YES's (1 − p). Trades are read through
   * trades_market_created_idx (market_id, created_at, id): one index range, no sort of the table.
   * An empty bucket is flat at the previous close. Before the first trade of the range the
   * price is the probability before that trade, or else the last probability after a trade
   * before the range (no trade in range), or else 0.5 (the market was never traded by then).
   * Buckets are aligned to the Unix epoch in UTC (date_bin's origin), as the service computes.
   */
  function bucketsQuery(marketId: string, { first, last, intervalMs }: BucketRange) {
    const step = sql`make_interval(secs => ${intervalMs / 1000})`;
    const end = new Date(last.getTime() + intervalMs);
    return sql<BucketRow>`
        with ranged as (
          select date_bin(${step}, created_at, timestamptz '1970-01-01 00:00:00+00') as bucket,
                 created_at, id, amount,
                 case when outcome = 'YES' then probability_before else 1 - probability_before end as yes_before,
                 case when outcome = 'YES' then probability_after else 1 - probability_after end as yes_after
          from trades
          where market_id = ${marketId} and created_at >= ${first} and created_at < ${end}
        ),
        traded as (
          select bucket,
                 (array_agg(yes_before order by created_at, id))[1] as open,
                 max(greatest(yes_before, yes_after)) as high,
                 min(least(yes_before, yes_after)) as low,
                 (array_agg(yes_after order by created_at desc, id desc))[1] as close,
                 sum(amount)::bigint as volume,
                 count(*)::int as trades
          from ranged group by bucket
        ),
        before_range as (
          select coalesce(
            (select yes_before from ranged order by created_at, id limit 1),
            (select case when outcome = 'YES' then probability_after else 1 - probability_after end
               from trades
               where market_id = ${marketId} and created_at < ${first}
               order by created_at desc, id desc limit 1),
            ${INITIAL_PROBABILITY}::double precision
          ) as price
        ),
        series as (
          select s.start, t.open, t.high, t.low, t.close, t.volume, t.trades,
                 -- Each traded bucket opens a group; the empty buckets after it carry its close.
                 count(t.close) over (order by s.start) as run
          from generate_series(${first}::timestamptz, ${last}::timestamptz, ${step}) as s(start)
          left join traded t on t.bucket = s.start
        ),
        carried as (
          select series.*, coalesce(max(close) over (partition by run), before_range.price) as carry
          from series cross join before_range
        )
        select start,
               coalesce(open, carry) as open, coalesce(high, carry) as high,
               coalesce(low, carry) as low, coalesce(close, carry) as close,
               coalesce(volume, 0)::bigint as volume, coalesce(trades, 0) as trades
        from carried order by start`;
  }

  return {
    /** The SQL of `buckets`, unexecuted: the EXPLAIN test checks the exact query. */
    bucketsQuery,

    async buckets(marketId: string, range: BucketRange): Promise<BucketRow[]> {
      const { rows } = await bucketsQuery(marketId, range).execute(db);
      return rows.map((r) => ({ ...r, volume: Number(r.volume), start: new Date(r.start) }));
    },
  };
}
