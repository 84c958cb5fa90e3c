import { type Kysely, type RawBuilder, sql } from 'kysely';
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

/** The answer a chart follows: its index, and for a multiple-choice market how many answers it has. */
export interface ChartedAnswer {
  index: number;
  multiple: boolean;
  count: number;
}

/** The probability of a market nobody has traded: LMSR with no shares outstanding. */
const INITIAL_PROBABILITY = 0.5;

/**
 * The buckets from the `ranged` trades (bucket, created_at, id, amount, yes_before, yes_after) and
 * the `before_range` price: OHLC per traded bucket, every bucket of the range, empty ones flat at
 * the previous close. Shared by the binary and the multiple-choice query.
 */
const bucketsFromRanged = (first: Date, last: Date, step: RawBuilder<unknown>) => sql`
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
  function bucketsQuery(marketId: string, { first, last, intervalMs }: BucketRange, answer?: ChartedAnswer) {
    const step = sql`make_interval(secs => ${intervalMs / 1000})`;
    const end = new Date(last.getTime() + intervalMs);
    if (answer?.multiple) return multipleBucketsQuery(marketId, { first, last, intervalMs }, answer);
    // A binary market's NO is the complement of its YES.
    const flip = answer?.index === 1;
    const yes = (column: 'probability_before' | 'probability_after') =>
      flip
        ? sql`case when outcome = 'YES' then 1 - ${sql.ref(column)} else ${sql.ref(column)} end`
        : sql`case when outcome = 'YES' then ${sql.ref(column)} else 1 - ${sql.ref(column)} end`;
    return sql<BucketRow>`
        with ranged as (
          select date_bin(${step}, created_at, timestamptz '1970-01-01 00:00:00+00') as bucket,
                 created_at, id, amount,
                 ${yes('probability_before')} as yes_before,
                 ${yes('probability_after')} as yes_after
          from trades
          where market_id = ${marketId} and created_at >= ${first} and created_at < ${end}
        ),
        before_range as (
          select coalesce(
            (select yes_before from ranged order by created_at, id limit 1),
            (select ${yes('probability_after')}
               from trades
               where market_id = ${marketId} and created_at < ${first}
               order by created_at desc, id desc limit 1),
            ${INITIAL_PROBABILITY}::double precision
          ) as price
        ),
        ${bucketsFromRanged(first, last, step)}`;
  }

  /**
   * One answer of a multiple-choice market: its price after each trade is answer_prices[i], and
   * before a trade it is the price after the market's previous trade (1/N before the first), so the
   * window runs over the market's trades up to the range's end (trades_market_created_idx).
   */
  function multipleBucketsQuery(
    marketId: string,
    { first, last, intervalMs }: BucketRange,
    answer: ChartedAnswer,
  ) {
    const step = sql`make_interval(secs => ${intervalMs / 1000})`;
    const end = new Date(last.getTime() + intervalMs);
    const at = answer.index + 1;
    const initial = 1 / answer.count;
    return sql<BucketRow>`
        with priced as (
          select created_at, id, amount, answer_prices[${at}::int] as yes_after,
                 coalesce(lag(answer_prices[${at}::int]) over (order by created_at, id),
                          ${initial}::double precision) as yes_before
          from trades
          where market_id = ${marketId} and created_at < ${end}
        ),
        ranged as (
          select date_bin(${step}, created_at, timestamptz '1970-01-01 00:00:00+00') as bucket,
                 created_at, id, amount, yes_before, yes_after
          from priced where created_at >= ${first}
        ),
        before_range as (
          select coalesce(
            (select yes_before from ranged order by created_at, id limit 1),
            (select yes_after from priced where created_at < ${first} order by created_at desc, id desc limit 1),
            ${initial}::double precision
          ) as price
        ),
        ${bucketsFromRanged(first, last, step)}`;
  }

  return {
    /** The SQL of `buckets`, unexecuted: the EXPLAIN test checks the exact query. */
    bucketsQuery,

    /** `answer`: which answer to chart (default: a binary market's YES). */
    async buckets(marketId: string, range: BucketRange, answer?: ChartedAnswer): Promise<BucketRow[]> {
      const { rows } = await bucketsQuery(marketId, range, answer).execute(db);
      return rows.map((r) => ({ ...r, volume: Number(r.volume), start: new Date(r.start) }));
    },
  };
}
