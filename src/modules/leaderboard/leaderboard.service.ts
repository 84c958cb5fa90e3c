import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { inTransaction } from '../../db/transaction.ts';
import { effectiveStatus } from '../../domain/market-status.ts';
import { toShares, toUnits } from '../../domain/money.ts';
import { PERIODS, type Period, periodStartDay, utcDay, valueHolding } from '../../domain/portfolio.ts';
import type { CacheAside } from '../../lib/cache/cache.ts';
import { decodeCursor, encodeCursor } from '../../lib/cursor.ts';
import { ApiError } from '../../lib/errors.ts';
import { type HoldingRow, type HoldingsRepository, settlementOf } from './holdings.repository.ts';
import type { Board, EntryRow, LeaderboardRepository, SnapshotRow } from './leaderboard.repository.ts';

export type LeaderboardService = ReturnType<typeof createLeaderboardService>;

interface Deps {
  db: Kysely<DB>;
  holdings: HoldingsRepository;
  boards: LeaderboardRepository;
  users: { findById(id: string): Promise<unknown> };
  cache: Pick<CacheAside, 'read'>;
  now?: () => Date;
}

const RANK_ORDER = { sort: 'rank', order: 'asc', kind: 'integer' } as const;
/** A board changes only when a refresh runs; its pages are cached this long under that refresh's key. */
const BOARD_TTL_SECONDS = 120;

const valued = (row: HoldingRow) => ({ row, valuation: valueHolding(row, settlementOf(row)) });

/** Sums of a user's valued holdings, in cents. */
function totals(rows: readonly ReturnType<typeof valued>[]) {
  let value = 0;
  let realised = 0;
  let unrealised = 0;
  for (const { row, valuation } of rows) {
    // A settled holding's value is already in the balance: only open ones add to "positions value".
    if (settlementOf(row).state === 'open') value += valuation.value;
    realised += valuation.realised;
    unrealised += valuation.unrealised;
  }
  return { positionsValue: value, realised, unrealised, profit: realised + unrealised };
}

const entryDto = (board: Board, e: EntryRow) => ({
  rank: e.rank,
  user: { id: e.userId, name: e.userName },
  value: board === 'traders' ? e.value : toUnits(e.value),
});

/** Portfolio valuation, its daily history, and the leaderboards served from their aggregates. */
export function createLeaderboardService({
  db,
  holdings,
  boards,
  users,
  cache,
  now = () => new Date(),
}: Deps) {
  async function valueAll() {
    const [rows, balances, reservations] = await Promise.all([
      holdings.allHoldings(db),
      holdings.balances(db),
      holdings.reservations(db),
    ]);
    const byUser = new Map<string, ReturnType<typeof valued>[]>();
    for (const row of rows) {
      const list = byUser.get(row.userId) ?? [];
      list.push(valued(row));
      byUser.set(row.userId, list);
    }
    return { byUser, balances, reservations };
  }

  return {
    async portfolio(userId: string) {
      const [rows, balance, reserved] = await Promise.all([
        holdings.userHoldings(userId),
        holdings.balanceOf(userId),
        holdings.reservedOf(userId),
      ]);
      const positions = rows.map(valued);
      const sums = totals(positions);
      return {
        balance: toUnits(balance),
        reserved: toUnits(reserved),
        positionsValue: toUnits(sums.positionsValue),
        netWorth: toUnits(balance + reserved + sums.positionsValue),
        realisedProfit: toUnits(sums.realised),
        unrealisedProfit: toUnits(sums.unrealised),
        profit: toUnits(sums.profit),
        positions: positions.map(({ row, valuation }) => ({
          market: {
            id: row.marketId,
            name: row.marketName,
            slug: row.marketSlug,
            status: effectiveStatus(row.marketStatus, row.marketClosesAt),
            probability: row.marketProbability,
            outcome: row.marketOutcome,
          },
          answerId: row.answerId,
          outcome: row.outcome,
          shares: toShares(row.shares),
          reservedShares: toShares(row.reservedShares),
          costBasis: toUnits(row.costBasis),
          netSpent: toUnits(row.netSpent),
          valuation: settlementOf(row).state === 'open' ? ('sale' as const) : ('settled' as const),
          value: toUnits(valuation.value),
          realisedProfit: toUnits(valuation.realised),
          unrealisedProfit: toUnits(valuation.unrealised),
          profit: toUnits(valuation.profit),
        })),
      };
    },

    async history(userId: string, period: Period) {
      if (!(await users.findById(userId))) throw ApiError.notFound('User');
      const points = await boards.snapshots(userId, periodStartDay(period, now()));
      return points.map((p) => ({
        day: p.day,
        balance: toUnits(p.balance),
        positionsValue: toUnits(p.positionsValue),
        netWorth: toUnits(p.netWorth),
        profit: toUnits(p.profit),
      }));
    },

    async board(by: Board, period: Period, query: { limit: number; cursor?: string | undefined }) {
      const afterRank = query.cursor ? Number(decodeCursor(query.cursor, RANK_ORDER).value) : 0;
      // The key names the refresh it was read from: a rebuilt board is never served from an older page.
      const refreshedAt = (await boards.refreshedAt())?.toISOString() ?? null;
      const rows =
        (await cache.read<EntryRow[]>({
          key: `leaderboard:${refreshedAt}:${by}:${period}:${afterRank}:${query.limit}`,
          ttlSeconds: BOARD_TTL_SECONDS,
          leased: false,
          load: () => boards.entries(by, period, afterRank, query.limit + 1),
          encode: JSON.stringify,
          decode: JSON.parse,
        })) ?? [];
      const hasMore = rows.length > query.limit;
      const data = (hasMore ? rows.slice(0, query.limit) : rows).map((e) => entryDto(by, e));
      const last = data.at(-1);
      return {
        data,
        meta: {
          limit: query.limit,
          hasMore,
          nextCursor:
            hasMore && last ? encodeCursor({ ...RANK_ORDER, value: last.rank, id: last.user.id }) : null,
          refreshedAt,
        },
      };
    },

    async myRank(userId: string, by: Board, period: Period) {
      const entry = await boards.entryOf(userId, by, period);
      return entry ? entryDto(by, entry) : null;
    },

    /** PORTFOLIO_SNAPSHOT_CRON: every user's balance, positions value and profit, as today's row. */
    async snapshot(): Promise<number> {
      const { byUser, balances, reservations } = await valueAll();
      const rows: SnapshotRow[] = [...balances].map(([userId, balance]) => {
        const sums = totals(byUser.get(userId) ?? []);
        return {
          userId,
          balance,
          positionsValue: sums.positionsValue,
          netWorth: balance + (reservations.get(userId) ?? 0) + sums.positionsValue,
          profit: sums.profit,
        };
      });
      await boards.upsertSnapshots(utcDay(now()), rows);
      return rows.length;
    },

    /**
     * LEADERBOARD_REFRESH_CRON: recounts the aggregates from the trades of yesterday and today
     * (everything on the first run), values every holding now, and rebuilds every board.
     */
    async refresh(): Promise<void> {
      const at = now();
      const { byUser } = await valueAll();
      const current = new Map([...byUser].map(([userId, list]) => [userId, totals(list).profit]));
      await inTransaction(db, async (trx) => {
        await boards.lockRefresh(trx);
        const first = (await boards.refreshedAt(trx)) === undefined;
        await boards.recount(trx, first ? undefined : yesterday(at));
        for (const period of PERIODS) {
          const startDay = periodStartDay(period, at);
          await boards.rankCounted(trx, period, startDay);
          const baselines =
            startDay === undefined ? new Map<string, number>() : await boards.profitBaselines(trx, startDay);
          const profits = new Map(
            [...current].map(([userId, p]) => [userId, p - (baselines.get(userId) ?? 0)]),
          );
          await boards.rankProfit(trx, period, profits);
        }
        await boards.markRefreshed(trx);
      });
    },
  };
}

function yesterday(at: Date): string {
  const day = new Date(at.getTime());
  day.setUTCDate(day.getUTCDate() - 1);
  return utcDay(day);
}
