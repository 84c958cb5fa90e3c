import { effectiveStatus, type MarketStatus } from '../../domain/market-status.ts';
import { decodeCursor, encodeCursor } from '../../lib/cursor.ts';
import { ApiError } from '../../lib/errors.ts';
import { UUID_PATTERN } from '../../lib/slug.ts';
import type { MarketRepository } from '../markets/markets.repository.ts';
import type { LedgerRepository } from './ledger.repository.ts';
import type { MarketSummaryRow, TradeHistoryRepository } from './trade-history.repository.ts';
import { ledgerDto, positionDto, tradeDto } from './trading.dto.ts';

export type PortfolioService = ReturnType<typeof createPortfolioService>;

interface Deps {
  history: TradeHistoryRepository;
  markets: Pick<MarketRepository, 'findById' | 'findBySlug'>;
  ledger: Pick<LedgerRepository, 'ledger'>;
}

const TRADE_ORDER = { sort: 'createdAt', order: 'desc', kind: 'timestamp' } as const;

const summary = (row: Partial<MarketSummaryRow> & { marketId: string }) =>
  row.marketName === undefined
    ? undefined
    : {
        id: row.marketId,
        name: row.marketName,
        slug: row.marketSlug!,
        status: effectiveStatus(row.marketStatus as MarketStatus, row.marketClosesAt!),
        probability: row.marketProbability!,
        outcome: row.marketOutcome ?? null,
      };

/** Read side of trading: ledger pages, positions, and the money conservation check. */
export function createPortfolioService({ history, markets, ledger }: Deps) {
  async function marketIdOf(idOrSlug: string): Promise<string> {
    const market = UUID_PATTERN.test(idOrSlug)
      ? await markets.findById(idOrSlug.toLowerCase())
      : await markets.findBySlug(idOrSlug);
    if (!market) throw ApiError.notFound('Market');
    return market.id;
  }

  function tradePage<T extends { id: string; createdAt: Date; marketId: string }>(rows: T[], limit: number) {
    const hasMore = rows.length > limit;
    const page = hasMore ? rows.slice(0, limit) : rows;
    const last = page.at(-1);
    return {
      data: page.map((row) => {
        const market = summary(row as T & Partial<MarketSummaryRow>);
        return { ...tradeDto(row as never), ...(market && { market }) };
      }),
      meta: {
        limit,
        hasMore,
        nextCursor:
          hasMore && last
            ? encodeCursor({ ...TRADE_ORDER, value: last.createdAt.toISOString(), id: last.id })
            : null,
      },
    };
  }

  const after = (cursor: string | undefined) => {
    if (!cursor) return undefined;
    const c = decodeCursor(cursor, TRADE_ORDER);
    return { createdAt: new Date(c.value), id: c.id };
  };

  return {
    async marketTrades(idOrSlug: string, query: { limit: number; cursor?: string | undefined }) {
      const marketId = await marketIdOf(idOrSlug);
      return tradePage(await history.marketTrades(marketId, query.limit, after(query.cursor)), query.limit);
    },

    async marketPositions(idOrSlug: string, query: { limit: number; offset: number }) {
      const marketId = await marketIdOf(idOrSlug);
      return (await history.marketPositions(marketId, query.limit, query.offset)).map(positionDto);
    },

    async myTrades(
      userId: string,
      query: { limit: number; cursor?: string | undefined; include?: 'market' | undefined },
    ) {
      const rows = await history.userTrades(
        userId,
        query.limit,
        after(query.cursor),
        query.include === 'market',
      );
      return tradePage(rows, query.limit);
    },

    async myPositions(userId: string, include: 'market' | undefined) {
      const rows = await history.userPositions(userId, include === 'market');
      return rows.map((row) => {
        const market = summary(row);
        return { ...positionDto(row), ...(market && { market }) };
      });
    },

    /** Everything ever granted = all balances + all escrow. The difference must be exactly 0. */
    async ledger() {
      return ledgerDto(await ledger.ledger());
    },
  };
}
