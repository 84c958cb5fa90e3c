import { createHash } from 'node:crypto';
import { ApiError } from '../../../lib/errors.ts';
import type { MarketsService } from '../markets.service.ts';
import type { PriceHistoryRepository } from './price-history.repository.ts';
import {
  DEFAULT_BUCKETS,
  INTERVALS,
  MAX_BUCKETS,
  type PriceHistoryDto,
  type PriceHistoryQuery,
} from './price-history.schemas.ts';

export type PriceHistoryService = ReturnType<typeof createPriceHistoryService>;

export interface PriceHistory {
  body: PriceHistoryDto;
  etag: string;
  /** No trade can still land in the range: the answer never changes. */
  immutable: boolean;
}

interface Deps {
  history: PriceHistoryRepository;
  markets: Pick<MarketsService, 'get'>;
  /**
   * How long after its created_at a trade may still commit (WRITE_DEADLINE_MS): a range is only
   * final once its end is further in the past than that.
   */
  settleMs: number;
}

const floorTo = (ms: number, step: number) => Math.floor(ms / step) * step;

export function createPriceHistoryService({ history, markets, settleMs }: Deps) {
  return {
    async get(idOrSlug: string, query: PriceHistoryQuery, now: Date): Promise<PriceHistory> {
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
      const { market } = await markets.get(idOrSlug);
      const rows = await history.buckets(market.id, {
        first: new Date(first),
        last: new Date(last),
        intervalMs: step,
      });
      const body: PriceHistoryDto = {
        marketId: market.id,
        interval: query.interval,
        from: new Date(first).toISOString(),
        to: new Date(last + step).toISOString(),
        buckets: rows.map((r) => ({
          start: r.start.toISOString(),
          open: r.open,
          high: r.high,
          low: r.low,
          close: r.close,
          volume: r.volume / 100,
          trades: r.trades,
        })),
      };
      const etag = `"${createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 27)}"`;
      return { body, etag, immutable: last + step + settleMs < now.getTime() };
    },
  };
}
