import { type Kysely, type RawBuilder, sql } from 'kysely';
import { allColumns } from '../../db/columns.ts';
import type { DB, Outcome, PositionRow, TradeRow } from '../../db/schema.ts';
import type { Trx } from '../../db/transaction.ts';

export type LedgerRepository = ReturnType<typeof createLedgerRepository>;

/** What recordTrade's statement answers: the values PostgreSQL assigned or summed. */
export interface RecordedTrade {
  tradeCreatedAt: Date;
  marketUpdatedAt: Date;
  balance: number;
  positionShares: number;
  positionCostBasis: number;
  positionNetSpent: number;
  positionPayout: number;
  positionUpdatedAt: Date;
  /** Whether the market has open limit orders (that the trade's new prices may have crossed). */
  restingOrders: boolean;
}

/** Named, not `*`: a trade's statements are prepared (columns.ts). */
const POSITION_COLUMNS = allColumns<PositionRow>({
  userId: true,
  marketId: true,
  outcome: true,
  answerIndex: true,
  shares: true,
  costBasis: true,
  netSpent: true,
  payout: true,
  updatedAt: true,
});

/**
 * Data access for money: row locks, balances, ledger lines (trades), positions and payouts. The
 * only code that writes users' balances, trades and positions; write methods take the transaction.
 * A market's book and escrow are columns of its row: a trade's book is written here, with the
 * trade (recordTrade); funding and settlement are markets.repository's (fund, settle), called in
 * the same transactions.
 *
 * LOCK ORDER, for every money path (trade, market create/fund, delete/release, resolve, cancel):
 *   1. the market row (markets.repository findForUpdate; a new market is its creator's own row),
 *   2. then user rows (lockUser; several at once in id order, lockUsers),
 *   3. then the Idempotency-Key row (idempotency.repository claim), then ledger lines and positions.
 * Row locks are FOR NO KEY UPDATE — what an UPDATE of non-key columns takes anyway — which does not
 * conflict with the FOR KEY SHARE lock that inserting a row with a foreign key takes on the row it
 * references. With FOR UPDATE, two transactions of one user that had each inserted a key row or a
 * market (a key-share lock on the user) then waited for each other's user lock: a deadlock.
 * Only deleting a market locks it FOR UPDATE (a DELETE's own strength).
 */
export function createLedgerRepository(db: Kysely<DB>) {
  return {
    /** See the lock order above: after the market, before the Idempotency-Key. */
    lockUser(trx: Trx, id: string): Promise<{ id: string; balance: number } | undefined> {
      return trx
        .selectFrom('users')
        .select(['id', 'balance'])
        .where('id', '=', id)
        .forNoKeyUpdate()
        .executeTakeFirst();
    },

    /** The same row as lockUser, unlocked: for reads that change nothing (quotes). */
    findUser(trx: Trx, id: string): Promise<{ id: string; balance: number } | undefined> {
      return trx.selectFrom('users').select(['id', 'balance']).where('id', '=', id).executeTakeFirst();
    },

    /** Locks many users in id order, so two settlements sharing users cannot deadlock. */
    async lockUsers(trx: Trx, ids: readonly string[]): Promise<void> {
      if (ids.length === 0) return;
      await trx
        .selectFrom('users')
        .select('id')
        .where('id', 'in', [...new Set(ids)])
        .orderBy('id')
        .forNoKeyUpdate()
        .execute();
    },

    async addToBalance(trx: Trx, userId: string, cents: number): Promise<number> {
      const row = await trx
        .updateTable('users')
        .set({ balance: sql<number>`balance + ${cents}` })
        .where('id', '=', userId)
        .returning('balance')
        .executeTakeFirstOrThrow();
      return row.balance;
    },

    /** Credits many users in one statement. */
    async creditMany(trx: Trx, credits: ReadonlyMap<string, number>): Promise<void> {
      const entries = [...credits].filter(([, cents]) => cents > 0);
      if (entries.length === 0) return;
      await sql`update users set balance = users.balance + c.cents
        from (select unnest(${entries.map(([id]) => id)}::uuid[]) as id,
                     unnest(${entries.map(([, cents]) => cents)}::bigint[]) as cents) as c
        where users.id = c.id`.execute(trx);
    },

    /**
     * A trade's four writes in one statement (one round trip): its ledger line (its id given, and
     * its time, else the clock at the insert), the market's book, the trader's balance and position, and `last`, a write of the
     * caller's that belongs in the same statement (the trade's event: events.appendStatement). The
     * caller holds the market and trader rows' locks and computed every value from them (the
     * kernel). A balance that does not move (a limit buy's fill: its reservation pays) is read,
     * not written. The statement answers the line's and the book's time, the balance and the position after, and
     * whether any limit order rests on the market (the statement starts after the caller locked
     * the market, and every order placement takes that lock, so its snapshot holds every open
     * order). Each CTE writes another table, so
     * none needs to see another's change (they share one snapshot). A sell only updates its
     * position, which the kernel checked it holds (an upsert would check the insert's row,
     * negative shares, against the constraint).
     */
    async recordTrade(
      trx: Trx,
      line: Omit<TradeRow, 'createdAt'> & { createdAt: Date | null },
      book: { shares: readonly number[]; probability: number; escrow: number; volumeDelta: number },
      balanceDelta: number,
      delta: { shares: number; costBasis: number; netSpent: number },
      last?: RawBuilder<unknown>,
    ): Promise<RecordedTrade> {
      const key = sql`${line.marketId}::uuid, ${line.userId}::uuid, ${line.answerIndex}::int`;
      const position =
        delta.shares < 0
          ? sql`update positions set shares = shares + ${delta.shares}, cost_basis = cost_basis + ${delta.costBasis},
                net_spent = net_spent + ${delta.netSpent}, updated_at = now()
              where (market_id, user_id, answer_index) = (${key})
              returning shares, cost_basis, net_spent, payout, updated_at`
          : sql`insert into positions (market_id, user_id, answer_index, outcome, shares, cost_basis, net_spent)
              values (${key}, ${line.outcome}, ${delta.shares}, ${delta.costBasis}, ${delta.netSpent})
              on conflict (market_id, user_id, answer_index) do update set
                shares = positions.shares + excluded.shares, cost_basis = positions.cost_basis + excluded.cost_basis,
                net_spent = positions.net_spent + excluded.net_spent, updated_at = now()
              returning shares, cost_basis, net_spent, payout, updated_at`;
      const { rows } = await sql<RecordedTrade>`
        with line as (
          insert into trades (id, market_id, user_id, outcome, answer_index, side, amount, shares,
                              probability_before, probability_after, answer_prices, created_at)
          values (${line.id}, ${line.marketId}, ${line.userId}, ${line.outcome}, ${line.answerIndex}, ${line.side},
                  ${line.amount}, ${line.shares}, ${line.probabilityBefore}, ${line.probabilityAfter},
                  ${line.answerPrices}::float8[], coalesce(${line.createdAt}::timestamptz, clock_timestamp()))
          returning created_at
        ), book as (
          update markets set shares = ${[...book.shares]}::bigint[], probability = ${book.probability},
            escrow = ${book.escrow}, volume = volume + ${book.volumeDelta}, updated_at = now(), version = version + 1
          where id = ${line.marketId}
          returning updated_at
        ), account as (${
          balanceDelta === 0
            ? sql`select balance from users where id = ${line.userId}`
            : sql`update users set balance = balance + ${balanceDelta} where id = ${line.userId} returning balance`
        }), position as (${position})${last ? sql`, last as (${last})` : sql``}
        select line.created_at as trade_created_at, book.updated_at as market_updated_at, account.balance,
               position.shares as position_shares, position.cost_basis as position_cost_basis,
               position.net_spent as position_net_spent, position.payout as position_payout,
               position.updated_at as position_updated_at,
               exists (select from orders where orders.market_id = ${line.marketId} and orders.status = 'open')
                 as resting_orders
        from line, book, account, position`.execute(trx);
      const row = rows[0];
      if (!row) throw new Error(`recordTrade wrote no row for market ${line.marketId}`);
      return row;
    },

    findPosition(
      trx: Trx,
      marketId: string,
      userId: string,
      answerIndex: number,
    ): Promise<PositionRow | undefined> {
      return trx
        .selectFrom('positions')
        .select(POSITION_COLUMNS)
        .where('marketId', '=', marketId)
        .where('userId', '=', userId)
        .where('answerIndex', '=', answerIndex)
        .executeTakeFirst();
    },

    /**
     * Adds the deltas to the user's position, creating it on a first buy. (A sell updates only:
     * PostgreSQL checks the proposed insert row's constraints even when it ends up updating.)
     */
    applyToPosition(
      trx: Trx,
      key: { marketId: string; userId: string; answerIndex: number; outcome: Outcome | null },
      delta: { shares: number; costBasis: number; netSpent: number },
    ): Promise<PositionRow> {
      if (delta.shares < 0) {
        return trx
          .updateTable('positions')
          .set({
            shares: sql<number>`shares + ${delta.shares}`,
            costBasis: sql<number>`cost_basis + ${delta.costBasis}`,
            netSpent: sql<number>`net_spent + ${delta.netSpent}`,
            updatedAt: sql<Date>`now()`,
          })
          .where('marketId', '=', key.marketId)
          .where('userId', '=', key.userId)
          .where('answerIndex', '=', key.answerIndex)
          .returning(POSITION_COLUMNS)
          .executeTakeFirstOrThrow();
      }
      return trx
        .insertInto('positions')
        .values({ ...key, shares: delta.shares, costBasis: delta.costBasis, netSpent: delta.netSpent })
        .onConflict((oc) =>
          oc.columns(['marketId', 'userId', 'answerIndex']).doUpdateSet({
            shares: sql<number>`positions.shares + ${delta.shares}`,
            costBasis: sql<number>`positions.cost_basis + ${delta.costBasis}`,
            netSpent: sql<number>`positions.net_spent + ${delta.netSpent}`,
            updatedAt: sql<Date>`now()`,
          }),
        )
        .returning(POSITION_COLUMNS)
        .executeTakeFirstOrThrow();
    },

    async hasTrades(marketId: string, trx: Kysely<DB> = db): Promise<boolean> {
      const row = await trx
        .selectFrom('trades')
        .select('id')
        .where('marketId', '=', marketId)
        .limit(1)
        .executeTakeFirst();
      return row !== undefined;
    },

    marketPositions(trx: Kysely<DB>, marketId: string): Promise<PositionRow[]> {
      return trx
        .selectFrom('positions')
        .selectAll()
        .where('marketId', '=', marketId)
        .orderBy('userId')
        .execute();
    },

    async setPayouts(trx: Trx, marketId: string, answerIndex: number): Promise<void> {
      // Must match payoutCents(): whole cents per micro-share count, the fraction kept by the maker.
      await trx
        .updateTable('positions')
        .set({ payout: sql<number>`shares / 10000` })
        .where('marketId', '=', marketId)
        .where('answerIndex', '=', answerIndex)
        .execute();
    },

    /**
     * Granted, balances, escrow and reservations (the cents open limit buys hold back,
     * orders.repository) summed in one statement, so all four are one snapshot.
     */
    async ledger(): Promise<{ granted: number; balances: number; escrow: number; reservations: number }> {
      const { rows } = await sql<{
        granted: string;
        balances: string;
        escrow: string;
        reservations: string;
      }>`select
          (select coalesce(sum(granted), 0) from users)::text as granted,
          (select coalesce(sum(balance), 0) from users)::text as balances,
          (select coalesce(sum(escrow), 0) from markets)::text as escrow,
          (select coalesce(sum(reserved), 0) from orders
            where status = 'open' and side = 'buy')::text as reservations`.execute(db);
      const row = rows[0]!;
      return {
        granted: Number(row.granted),
        balances: Number(row.balances),
        escrow: Number(row.escrow),
        reservations: Number(row.reservations),
      };
    },
  };
}
