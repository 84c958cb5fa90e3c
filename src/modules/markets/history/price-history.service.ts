import { createHash } from 'node:crypto';
import { answerIndexIn } from '../../../domain/answers.ts';
import { toUnits } from '../../../domain/money.ts';
import { ApiError } from '../../../lib/errors.ts';
import type { MarketDto } from '../markets.schemas.ts';
import type { MarketsService } from '../markets.service.ts';
import type { ChartedAnswer, PriceHistoryRepository } from './price-history.repository.ts';
import {
  type BatchPriceHistoryDto,
  type BucketDto,
  DEFAULT_BUCKETS,
  INTERVALS,
  MAX_BUCKETS,
  type PriceHistoryDto,
  type PriceHistoryQuery,
} from './price-history.schemas.ts';

export type PriceHistoryService = ReturnType<typeof createPriceHistoryService>;

export interface PriceHistory<Body> {
  body: Body;
  etag: string;
  /** No trade can still land in the range: the answer never changes. */
  immutable: boolean;
}

interface Deps {
  history: PriceHistoryRepository;
  markets: Pick<MarketsService, 'get' | 'idsOf'>;
  /**
   * How long after its created_at a trade may still commit (WRITE_DEADLINE_MS): a range is only
   * final once its end is further in the past than that.
   */
  settleMs: number;
}

const floorTo = (ms: number, step: number) => Math.floor(ms / step) * step;

export function createPriceHistoryService({ history, markets, settleMs }: Deps) {
  /** The aligned bucket range a query asks for; 400 when it is inverted or too long. */
  function rangeOf(query: PriceHistoryQuery, now: Date) {
    const step = INTERVALS[query.interval];
    const to = query.to ?? now;
    const from = query.from ?? new Date(to.getTime() - (DEFAULT_BUCKETS - 1) * step);
    if (from > to) throw ApiError.badRequest('`from` must not be after `to`');
    const first = floorTo(from.getTime(), step);
    const last = floorTo(to.getTime(), step);
    const count = (last - first) / step + 1;
    if (count > MAX_BUCKETS) {
      throw ApiError.badRequest(
        `The range spans ${count} buckets of ${query.interval}; at most ${MAX_BUCKETS} per request (use a wider interval or a shorter range)`,
      );
    }
    return { first: new Date(first), last: new Date(last), intervalMs: step };
  }

  /**
   * The answer a chart follows: the one asked for (400 UNKNOWN_ANSWER when it is not this
   * market's), else a binary market's YES, else a multiple-choice market's leading answer now.
   */
  function chartedAnswer(market: Pick<MarketDto, 'type' | 'answers'>, answerId: string | undefined) {
    const multiple = market.type === 'multiple';
    let index = 0;
    if (answerId !== undefined)
      index = answerIndexIn({ type: 'binary', answers: market.answers }, { answerId });
    else if (multiple)
      index = market.answers.reduce(
        (best, a, i, all) => (a.probability > all[best]!.probability ? i : best),
        0,
      );
    return { id: market.answers[index]!.id, answer: { index, multiple, count: market.answers.length } };
  }

  async function bucketsOf(
    marketId: string,
    range: ReturnType<typeof rangeOf>,
    answer: ChartedAnswer,
  ): Promise<BucketDto[]> {
    const rows = await history.buckets(marketId, range, answer);
    return rows.map((r) => ({
      start: r.start.toISOString(),
      open: r.open,
      high: r.high,
      low: r.low,
      close: r.close,
      volume: toUnits(r.volume),
      trades: r.trades,
    }));
  }

  function versioned<T>(body: T, range: ReturnType<typeof rangeOf>, now: Date) {
    const etag = `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 27)}"`;
    const end = range.last.getTime() + range.intervalMs;
    return { body, etag, immutable: end + settleMs < now.getTime() };
  }

  return {
    async get(idOrSlug: string, query: PriceHistoryQuery, now: Date): Promise<PriceHistory<PriceHistoryDto>> {
      const range = rangeOf(query, now);
      const { market } = await markets.get(idOrSlug);
      const charted = chartedAnswer(market, query.answerId);
      const body: PriceHistoryDto = {
        marketId: market.id,
        answerId: charted.id,
        interval: query.interval,
        from: range.first.toISOString(),
        to: new Date(range.last.getTime() + range.intervalMs).toISOString(),
        buckets: await bucketsOf(market.id, range, charted.answer),
      };
      return versioned(body, range, now);
    },

    /** The same history for several markets (ids or slugs, deduplicated by the schema); 404 names the unknown. */
    async getMany(
      idsOrSlugs: string[],
      query: PriceHistoryQuery,
      now: Date,
    ): Promise<PriceHistory<BatchPriceHistoryDto>> {
      const range = rangeOf(query, now);
      const found = await markets.idsOf(idsOrSlugs);
      const unknown = idsOrSlugs.filter((_, i) => found[i] === undefined);
      if (unknown.length > 0) throw ApiError.notFound(`Market ${unknown.join(', ')}`);
      const result: BatchPriceHistoryDto['markets'] = [];
      // One after another: a batch holds one pooled connection at a time, like a single request.
      for (const marketId of found as string[]) {
        const charted = chartedAnswer((await markets.get(marketId)).market, undefined);
        result.push({
          marketId,
          answerId: charted.id,
          buckets: await bucketsOf(marketId, range, charted.answer),
        });
      }
      const body: BatchPriceHistoryDto = {
        interval: query.interval,
        from: range.first.toISOString(),
        to: new Date(range.last.getTime() + range.intervalMs).toISOString(),
        markets: result,
      };
      return versioned(body, range, now);
    },
  };
}
