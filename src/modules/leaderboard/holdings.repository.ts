import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { DB, MarketStatus, Outcome } from '../../db/schema.ts';
import { outcomeIndex } from '../../domain/binary-lmsr.ts';
import type { Holding, Settlement } from '../../domain/portfolio.ts';

/**
 * Every read of the trading ledger (positions, trades) that the portfolio and the leaderboards
 * make, in one file: when markets get N answers (positions.answer_index, markets.shares[]), this
 * file and `answerIndexOf` are what change.
 */
export type HoldingsRepository = ReturnType<typeof createHoldingsRepository>;

/** A binary outcome as the answer index it is (YES = 0, NO = 1). */
export const answerIndexOf = (outcome: Outcome): number => outcomeIndex(outcome);

export interface HoldingRow extends Holding {
  userId: string;
  marketId: string;
  outcome: Outcome;
  marketName: string;
  marketSlug: string;
  marketStatus: MarketStatus;
  marketClosesAt: Date;
  marketOutcome: Outcome | null;
  marketProbability: number;
  yesShares: number;
  noShares: number;
  liquidity: number;
}

/** How the kernel values a holding of this market: its book while unsettled, else the settlement. */
export function settlementOf(row: HoldingRow): Settlement {
  if (row.marketStatus === 'resolved') return { state: 'resolved', won: row.marketOutcome === row.outcome };
  if (row.marketStatus === 'cancelled') return { state: 'cancelled' };
  return {
    state: 'open',
    book: { shares: [row.yesShares, row.noShares], liquidity: row.liquidity },
    outcome: answerIndexOf(row.outcome),
  };
}

export function createHoldingsRepository(read: Kysely<DB>) {
  const holdings = (db: Kysely<DB>) =>
    db
      .selectFrom('positions as p')
      .innerJoin('markets as m', 'm.id', 'p.marketId')
      .select([
        'p.userId',
        'p.marketId',
        'p.outcome',
        'p.shares',
        'p.costBasis',
        'p.netSpent',
        'm.name as marketName',
        'm.slug as marketSlug',
        'm.status as marketStatus',
        'm.closesAt as marketClosesAt',
        'm.outcome as marketOutcome',
        'm.probability as marketProbability',
        'm.yesShares',
        'm.noShares',
        'm.liquidity',
      ])
      // A position sold out at cost (no shares, nothing gained or lost) is history, not holding.
      .where((eb) => eb.or([eb('p.shares', '>', 0), eb('p.netSpent', '!=', 0)]));

  return {
    /** One user's holdings with their markets, most recently traded first. */
    userHoldings(userId: string, db: Kysely<DB> = read): Promise<HoldingRow[]> {
      return holdings(db)
        .where('p.userId', '=', userId)
        .orderBy('p.updatedAt', 'desc')
        .orderBy('p.marketId')
        .orderBy('p.outcome')
        .execute();
    },

    /** Every user's holdings (the snapshot and refresh schedules value them all). */
    allHoldings(db: Kysely<DB> = read): Promise<HoldingRow[]> {
      return holdings(db).execute();
    },

    /** One user's balance in cents (0 for an unknown id). */
    async balanceOf(userId: string, db: Kysely<DB> = read): Promise<number> {
      const row = await db.selectFrom('users').select('balance').where('id', '=', userId).executeTakeFirst();
      return Number(row?.balance ?? 0);
    },

    /** Every user's balance, in cents. */
    async balances(db: Kysely<DB> = read): Promise<Map<string, number>> {
      const rows = await db.selectFrom('users').select(['id', 'balance']).execute();
      return new Map(rows.map((r) => [r.id, Number(r.balance)]));
    },

    /** (user_id, day, volume, trades) of the trades on or after `sinceDay` (all when undefined). */
    tradesByUserDay(sinceDay: string | undefined): RawBuilder<unknown> {
      return sql`select user_id, (created_at at time zone 'UTC')::date as day, sum(amount)::bigint, count(*)::int
        from trades ${sinceWhere(sinceDay)} group by 1, 2`;
    },

    /** (creator_id, trader_id, last_traded_on) of the trades on or after `sinceDay` (all when undefined). */
    tradersByCreator(sinceDay: string | undefined): RawBuilder<unknown> {
      return sql`select m.creator_id, t.user_id, max((t.created_at at time zone 'UTC')::date)
        from trades t join markets m on m.id = t.market_id ${sinceWhere(sinceDay, 't.')} group by 1, 2`;
    },
  };
}

const sinceWhere = (sinceDay: string | undefined, alias = '') =>
  sinceDay === undefined
    ? sql``
    : sql`where ${sql.raw(`${alias}created_at`)} >= (${sinceDay}::date)::timestamp at time zone 'UTC'`;
