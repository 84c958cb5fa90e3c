import { type Kysely, sql } from 'kysely';
import type { DB, PositionRow, TradeRow } from '../../db/schema.ts';

export type TradeHistoryRepository = ReturnType<typeof createTradeHistoryRepository>;

export interface MarketSummaryRow {
  marketName: string;
  marketSlug: string;
  marketStatus: string;
  marketClosesAt: Date;
  marketProbability: number;
  marketOutcome: 'YES' | 'NO' | null;
}

type After = { createdAt: Date; id: string } | undefined;

/** The id of a trade's or position's answer (its market's answer at its index), read with the row. */
const answerIdOf = (table: 'trades' | 'positions') =>
  sql<string>`(select a.id from market_answers a where a.market_id = ${sql.ref(`${table}.marketId`)} and a.index = ${sql.ref(`${table}.answerIndex`)})`.as(
    'answerId',
  );

export type WithAnswerId<T> = T & { answerId: string };

/** A bound on one answer; a user with more open positions than this pages through trades instead. */
const MAX_POSITIONS = 500;

/** Read side of trading: newest-first ledger pages and positions, markets joined in the same query. */
/** `read`: where a market's public trade list is read (a replica when there are any). */
export function createTradeHistoryRepository(db: Kysely<DB>, read: Kysely<DB> = db) {
  return {
    async marketTrades(marketId: string, limit: number, after: After): Promise<WithAnswerId<TradeRow>[]> {
      let q = read
        .selectFrom('trades')
        .selectAll()
        .select(answerIdOf('trades'))
        .where('marketId', '=', marketId);
      if (after)
        q = q.where((eb) => eb(eb.refTuple('createdAt', 'id'), '<', eb.tuple(after.createdAt, after.id)));
      return q
        .orderBy('createdAt', 'desc')
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute();
    },

    marketPositions(marketId: string, limit: number, offset: number): Promise<WithAnswerId<PositionRow>[]> {
      return db
        .selectFrom('positions')
        .selectAll()
        .select(answerIdOf('positions'))
        .where('marketId', '=', marketId)
        .where('shares', '>', 0)
        .orderBy('shares', 'desc')
        .orderBy('userId')
        .limit(limit)
        .offset(offset)
        .execute();
    },

    userPositions(
      userId: string,
      withMarket: boolean,
    ): Promise<(WithAnswerId<PositionRow> & Partial<MarketSummaryRow>)[]> {
      const q = db
        .selectFrom('positions')
        .selectAll('positions')
        .select(answerIdOf('positions'))
        .where('positions.userId', '=', userId)
        .where((eb) => eb.or([eb('positions.shares', '>', 0), eb('positions.payout', '>', 0)]))
        .orderBy('positions.updatedAt', 'desc')
        .limit(MAX_POSITIONS);
      if (!withMarket) return q.execute();
      return q
        .innerJoin('markets', 'markets.id', 'positions.marketId')
        .select(marketColumns)
        .execute() as Promise<(WithAnswerId<PositionRow> & MarketSummaryRow)[]>;
    },

    async userTrades(
      userId: string,
      limit: number,
      after: After,
      withMarket: boolean,
    ): Promise<(WithAnswerId<TradeRow> & Partial<MarketSummaryRow>)[]> {
      let q = db
        .selectFrom('trades')
        .selectAll('trades')
        .select(answerIdOf('trades'))
        .where('trades.userId', '=', userId);
      if (after) {
        q = q.where((eb) =>
          eb(eb.refTuple('trades.createdAt', 'trades.id'), '<', eb.tuple(after.createdAt, after.id)),
        );
      }
      q = q
        .orderBy('trades.createdAt', 'desc')
        .orderBy('trades.id', 'desc')
        .limit(limit + 1);
      if (withMarket) {
        return q
          .innerJoin('markets', 'markets.id', 'trades.marketId')
          .select(marketColumns)
          .execute() as Promise<(WithAnswerId<TradeRow> & MarketSummaryRow)[]>;
      }
      return q.execute();
    },
  };
}

const marketColumns = [
  sql<string>`markets.name`.as('marketName'),
  sql<string>`markets.slug`.as('marketSlug'),
  sql<string>`markets.status`.as('marketStatus'),
  sql<Date>`markets.closes_at`.as('marketClosesAt'),
  sql<number>`markets.probability`.as('marketProbability'),
  sql<'YES' | 'NO' | null>`markets.outcome`.as('marketOutcome'),
] as const;
