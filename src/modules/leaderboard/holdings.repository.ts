import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { DB, MarketStatus, Outcome } from '../../db/schema.ts';
import type { Holding, Settlement } from '../../domain/portfolio.ts';
import { bookOf } from '../trading/trade-execution.ts';

/**
 * Every read of the trading ledger (positions, trades, open orders' reservations) that the
 * portfolio and the leaderboards make, in one file. A holding is one answer of one market
 * (positions.answer_index); its market's book is markets.shares[] per answer.
 */
export type HoldingsRepository = ReturnType<typeof createHoldingsRepository>;

/**
 * A position with its market. `shares` and `costBasis` include what the user's open sell orders
 * hold back (`reservedShares`, taken off the position with their cost basis while the order
 * rests): those shares are still the user's, and are valued as the position's own.
 */
export interface HoldingRow extends Holding {
  userId: string;
  marketId: string;
  answerIndex: number;
  /** The market_answers row of `answerIndex`. */
  answerId: string;
  /** Binary markets only (null on multiple-choice positions). */
  outcome: Outcome | null;
  reservedShares: number;
  marketName: string;
  marketSlug: string;
  marketStatus: MarketStatus;
  marketClosesAt: Date;
  marketOutcome: Outcome | null;
  marketResolvedAnswerIndex: number | null;
  marketProbability: number;
  marketShares: number[];
  liquidity: number;
}

/** The winning answer of a resolved market (migration 016 set it for binary markets resolved before it). */
const winningIndex = (row: HoldingRow): number | null => row.marketResolvedAnswerIndex;

/** How the kernel values a holding of this market: its book while unsettled, else the settlement. */
export function settlementOf(row: HoldingRow): Settlement {
  if (row.marketStatus === 'resolved')
    return { state: 'resolved', won: winningIndex(row) === row.answerIndex };
  if (row.marketStatus === 'cancelled') return { state: 'cancelled' };
  return {
    state: 'open',
    book: bookOf({ shares: row.marketShares, liquidity: row.liquidity }),
    outcome: row.answerIndex,
  };
}

export function createHoldingsRepository(read: Kysely<DB>) {
  const holdings = (db: Kysely<DB>) =>
    db
      .selectFrom('positions as p')
      .innerJoin('markets as m', 'm.id', 'p.marketId')
      .innerJoin('marketAnswers as a', (join) =>
        join.onRef('a.marketId', '=', 'p.marketId').onRef('a.index', '=', 'p.answerIndex'),
      )
      // Shares the user's open sell orders hold back from this position (017_limit_orders.sql).
      .leftJoin(
        (eb) =>
          eb
            .selectFrom('orders')
            .select([
              'marketId',
              'userId',
              'answerIndex',
              sql<number>`sum(reserved)::bigint`.as('shares'),
              sql<number>`sum(reserved_cost_basis)::bigint`.as('costBasis'),
            ])
            .where('status', '=', 'open')
            .where('side', '=', 'sell')
            .groupBy(['marketId', 'userId', 'answerIndex'])
            .as('o'),
        (join) =>
          join
            .onRef('o.marketId', '=', 'p.marketId')
            .onRef('o.userId', '=', 'p.userId')
            .onRef('o.answerIndex', '=', 'p.answerIndex'),
      )
      .select([
        'p.userId',
        'p.marketId',
        'p.answerIndex',
        'a.id as answerId',
        'p.outcome',
        sql<number>`p.shares + coalesce(o.shares, 0)`.as('shares'),
        sql<number>`p.cost_basis + coalesce(o.cost_basis, 0)`.as('costBasis'),
        sql<number>`coalesce(o.shares, 0)`.as('reservedShares'),
        'p.netSpent',
        'm.name as marketName',
        'm.slug as marketSlug',
        'm.status as marketStatus',
        'm.closesAt as marketClosesAt',
        'm.outcome as marketOutcome',
        'm.resolvedAnswerIndex as marketResolvedAnswerIndex',
        'm.probability as marketProbability',
        'm.shares as marketShares',
        'm.liquidity',
      ])
      // A position sold out at cost (no shares, nothing gained or lost) is history, not holding.
      .where((eb) => eb.or([eb('p.shares', '>', 0), eb('p.netSpent', '!=', 0), eb('o.shares', '>', 0)]));

  return {
    /** One user's holdings with their markets, most recently traded first. */
    userHoldings(userId: string, db: Kysely<DB> = read): Promise<HoldingRow[]> {
      return holdings(db)
        .where('p.userId', '=', userId)
        .orderBy('p.updatedAt', 'desc')
        .orderBy('p.marketId')
        .orderBy('p.answerIndex')
        .execute();
    },

    /** Every user's holdings (the snapshot and refresh schedules value them all). */
    allHoldings(db: Kysely<DB> = read): Promise<HoldingRow[]> {
      return holdings(db).execute();
    },

    /** Cents one user's open buy orders hold back from the balance (0 when none). */
    async reservedOf(userId: string, db: Kysely<DB> = read): Promise<number> {
      const row = await reservedCents(db).where('userId', '=', userId).executeTakeFirst();
      return Number(row?.reserved ?? 0);
    },

    /** Cents every user's open buy orders hold back, by user (users without any are absent). */
    async reservations(db: Kysely<DB> = read): Promise<Map<string, number>> {
      const rows = await reservedCents(db).execute();
      return new Map(rows.map((r) => [r.userId, Number(r.reserved)]));
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

/** Open buy orders' reserved cents per user (a sell's reservation is shares, counted in its holding). */
const reservedCents = (db: Kysely<DB>) =>
  db
    .selectFrom('orders')
    .select(['userId', sql<number>`sum(reserved)::bigint`.as('reserved')])
    .where('status', '=', 'open')
    .where('side', '=', 'buy')
    .groupBy('userId');

const sinceWhere = (sinceDay: string | undefined, alias = '') =>
  sinceDay === undefined
    ? sql``
    : sql`where ${sql.raw(`${alias}created_at`)} >= (${sinceDay}::date)::timestamp at time zone 'UTC'`;
