import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { Trx } from '../../db/transaction.ts';
import type { Period } from '../../domain/portfolio.ts';
import type { HoldingsRepository } from './holdings.repository.ts';

export type Board = 'profit' | 'volume' | 'traders';
export const BOARDS = ['profit', 'volume', 'traders'] as const satisfies readonly Board[];

/** Advisory lock of the boards' refresh (the other ids: events, migrate, vector-support). */
const REFRESH_LOCK_ID = 6_001_018;

export type LeaderboardRepository = ReturnType<typeof createLeaderboardRepository>;

export interface SnapshotRow {
  userId: string;
  balance: number;
  positionsValue: number;
  netWorth: number;
  profit: number;
}

export interface EntryRow {
  rank: number;
  userId: string;
  userName: string;
  value: number;
}

/**
 * The only writer of the derived tables of migration 018 (portfolio_snapshots and the
 * leaderboard_* aggregates). The trades they are counted from are read through holdings.repository.
 */
export function createLeaderboardRepository(db: Kysely<DB>, read: Kysely<DB>, holdings: HoldingsRepository) {
  return {
    /** One row per user per day: a second run on the same day replaces that day's values. */
    async upsertSnapshots(day: string, rows: readonly SnapshotRow[]): Promise<void> {
      if (rows.length === 0) return;
      const col = <K extends keyof SnapshotRow>(k: K) => rows.map((r) => r[k]);
      await sql`insert into portfolio_snapshots (user_id, day, balance, positions_value, net_worth, profit)
        select u, ${day}::date, b, v, n, p from unnest(${col('userId')}::uuid[], ${col('balance')}::bigint[],
          ${col('positionsValue')}::bigint[], ${col('netWorth')}::bigint[], ${col('profit')}::bigint[]) as s(u, b, v, n, p)
        on conflict (user_id, day) do update set balance = excluded.balance,
          positions_value = excluded.positions_value, net_worth = excluded.net_worth,
          profit = excluded.profit, taken_at = now()`.execute(db);
    },

    async snapshots(userId: string, sinceDay: string | undefined) {
      const { rows } = await sql<{
        day: string;
        balance: string;
        positionsValue: string;
        netWorth: string;
        profit: string;
      }>`select to_char(day, 'YYYY-MM-DD') as day, balance::text, positions_value::text,
          net_worth::text, profit::text
        from portfolio_snapshots where user_id = ${userId}
        ${sinceDay === undefined ? sql`` : sql`and day >= ${sinceDay}::date`} order by day`.execute(read);
      return rows.map((r) => ({
        day: r.day,
        balance: Number(r.balance),
        positionsValue: Number(r.positionsValue),
        netWorth: Number(r.netWorth),
        profit: Number(r.profit),
      }));
    },

    /** Each user's profit at the start of `day`: their latest snapshot on or before it. */
    async profitBaselines(trx: Trx, day: string): Promise<Map<string, number>> {
      const { rows } = await sql<{ userId: string; profit: string }>`select distinct on (user_id)
          user_id, profit::text from portfolio_snapshots where day <= ${day}::date
          order by user_id, day desc`.execute(trx);
      return new Map(rows.map((r) => [r.userId, Number(r.profit)]));
    },

    /** Recounts the per-day aggregates from the trades on or after `sinceDay` (all when undefined). */
    async recount(trx: Trx, sinceDay: string | undefined): Promise<void> {
      if (sinceDay === undefined) await sql`delete from leaderboard_user_days`.execute(trx);
      else await sql`delete from leaderboard_user_days where day >= ${sinceDay}::date`.execute(trx);
      await sql`insert into leaderboard_user_days (user_id, day, volume, trades)
        ${holdings.tradesByUserDay(sinceDay)}`.execute(trx);
      await sql`insert into leaderboard_creator_traders (creator_id, trader_id, last_traded_on)
        ${holdings.tradersByCreator(sinceDay)}
        on conflict (creator_id, trader_id) do update
          set last_traded_on = greatest(leaderboard_creator_traders.last_traded_on, excluded.last_traded_on)`.execute(
        trx,
      );
    },

    /** Rebuilds the volume and traders boards of `period` from the aggregates (none of the ledger). */
    async rankCounted(trx: Trx, period: Period, startDay: string | undefined): Promise<void> {
      const since = (column: string) =>
        startDay === undefined ? sql`` : sql`where ${sql.ref(column)} >= ${startDay}::date`;
      await sql`delete from leaderboard_entries where period = ${period} and board in ('volume', 'traders')`.execute(
        trx,
      );
      await sql`insert into leaderboard_entries (board, period, rank, user_id, value)
        select 'volume', ${period}, row_number() over (order by sum(volume) desc, user_id), user_id, sum(volume)
        from leaderboard_user_days ${since('day')} group by user_id having sum(volume) > 0`.execute(trx);
      await sql`insert into leaderboard_entries (board, period, rank, user_id, value)
        select 'traders', ${period}, row_number() over (order by count(*) desc, creator_id), creator_id, count(*)
        from leaderboard_creator_traders ${since('last_traded_on')} group by creator_id`.execute(trx);
    },

    /** Replaces the profit board of `period` with these values (ranked here, highest first). */
    async rankProfit(trx: Trx, period: Period, profits: ReadonlyMap<string, number>): Promise<void> {
      await sql`delete from leaderboard_entries where period = ${period} and board = 'profit'`.execute(trx);
      const ranked = [...profits].sort(([ua, a], [ub, b]) => b - a || (ua < ub ? -1 : ua > ub ? 1 : 0));
      if (ranked.length === 0) return;
      await sql`insert into leaderboard_entries (board, period, rank, user_id, value)
        select 'profit', ${period}, r, u, v from unnest(${ranked.map((_, i) => i + 1)}::int[],
          ${ranked.map(([u]) => u)}::uuid[], ${ranked.map(([, v]) => v)}::bigint[]) as s(r, u, v)`.execute(
        trx,
      );
    },

    /** One refresh at a time (a manual run beside the schedule's): the second waits for the first's commit. */
    async lockRefresh(trx: Trx): Promise<void> {
      await sql`select pg_advisory_xact_lock(${REFRESH_LOCK_ID})`.execute(trx);
    },

    async markRefreshed(trx: Trx): Promise<void> {
      await sql`insert into leaderboard_state (id, refreshed_at) values (true, now())
        on conflict (id) do update set refreshed_at = excluded.refreshed_at`.execute(trx);
    },

    async refreshedAt(db_: Kysely<DB> = read): Promise<Date | undefined> {
      const { rows } = await sql<{ refreshedAt: Date }>`select refreshed_at from leaderboard_state`.execute(
        db_,
      );
      return rows[0]?.refreshedAt;
    },

    /** A page of a board: ranks after `afterRank`, with each user's name. */
    async entries(board: Board, period: Period, afterRank: number, limit: number): Promise<EntryRow[]> {
      const { rows } = await sql<{ rank: number; userId: string; userName: string; value: string }>`
        select e.rank, e.user_id, u.name as user_name, e.value::text from leaderboard_entries e
        join users u on u.id = e.user_id
        where e.board = ${board} and e.period = ${period} and e.rank > ${afterRank}
        order by e.rank limit ${limit}`.execute(read);
      return rows.map((r) => ({ ...r, rank: Number(r.rank), value: Number(r.value) }));
    },

    async entryOf(userId: string, board: Board, period: Period): Promise<EntryRow | undefined> {
      const { rows } = await sql<{ rank: number; userId: string; userName: string; value: string }>`
        select e.rank, e.user_id, u.name as user_name, e.value::text from leaderboard_entries e
        join users u on u.id = e.user_id
        where e.user_id = ${userId} and e.board = ${board} and e.period = ${period}`.execute(read);
      const r = rows[0];
      return r && { ...r, rank: Number(r.rank), value: Number(r.value) };
    },
  };
}
