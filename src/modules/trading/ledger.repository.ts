import { type Kysely, sql } from 'kysely';
import { allColumns } from '../../db/columns.ts';
import { preparingEvery } from '../../db/prepared-statements.ts';
import type { DB, Outcome, PositionRow, TradeRow } from '../../db/schema.ts';
import type { Trx } from '../../db/transaction.ts';
import { coalescedPerTurn } from '../../lib/coalesced-per-turn.ts';
import type { Deadline } from '../../lib/deadline.ts';
import type { NewEvent } from '../events/events.repository.ts';

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

/** One trade's writes, as the kernel planned them (trade-execution.ts). */
export interface TradeWrite {
  line: Omit<TradeRow, 'createdAt'> & { createdAt: Date | null };
  book: { shares: readonly number[]; probability: number; escrow: number; volumeDelta: number };
  balanceDelta: number;
  positionDelta: { shares: number; costBasis: number; netSpent: number };
  event?: NewEvent | undefined;
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
  type Refusal = { refused: 'stale' | 'refused' | 'orders' | 'skipped' };
  type TradeCall = { writes: readonly (TradeWrite & { expectedVersion: number })[]; deadline: Deadline };

  /** The calls of a turn, or of the wait for the statement before, as one record_trades. */
  const recordTradesTogether = coalescedPerTurn(
    async (calls: TradeCall[]): Promise<(RecordedTrade | Refusal)[][]> => {
      // A call whose deadline passed while it waited is not written: its buys go to the locked
      // path, which answers them at their deadline.
      const live = calls.filter((call) => !call.deadline.expired());
      const trades = live.flatMap(({ writes }) =>
        writes.map(({ line, book, balanceDelta, positionDelta, event, expectedVersion }) => ({
          ...line,
          answerPrices: line.answerPrices && `{${line.answerPrices.join(',')}}`,
          bookShares: `{${book.shares.join(',')}}`,
          bookProbability: book.probability,
          bookEscrow: book.escrow,
          volumeDelta: book.volumeDelta,
          balanceDelta,
          positionShares: positionDelta.shares,
          positionCostBasis: positionDelta.costBasis,
          positionNetSpent: positionDelta.netSpent,
          eventType: event?.type ?? null,
          eventPayload: event?.payload ?? null,
          expectedVersion,
        })),
      );
      const results: (RecordedTrade | Refusal)[] = [];
      if (trades.length > 0) {
        const lockTimeoutMs = Math.max(
          1,
          Math.ceil(Math.min(...live.map((call) => call.deadline.remainingMs()))),
        );
        const { rows } = await preparingEvery(() =>
          sql<RecordedTrade & { status: string }>`
            select status, trade_created_at, market_updated_at, balance, position_shares, position_cost_basis,
                   position_net_spent, position_payout, position_updated_at, resting_orders
            from record_trades(${JSON.stringify(trades)}::jsonb, ${lockTimeoutMs}::int)`.execute(db),
        );
        for (const { status, ...recorded } of rows) {
          if (status === 'recorded') results.push(recorded);
          else if (status === 'stale' || status === 'refused' || status === 'orders' || status === 'skipped')
            results.push({ refused: status });
          else throw new Error(`record_trades answered ${status}`);
        }
      }
      return calls.map((call) =>
        live.includes(call)
          ? results.splice(0, call.writes.length)
          : call.writes.map((): Refusal => ({ refused: 'skipped' })),
      );
    },
    { oneAtATime: true },
  );

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
     * A trade's writes in one statement (record_trade, 019_record_trade.sql): its ledger line (its
     * id given, and its time, else the clock at the insert), the market's book, the trader's
     * balance and position, and its event. The values are the kernel's; a balance that does not
     * move (a limit buy's fill: its reservation pays) is read, not written. The statement answers
     * the line's and the book's time, the balance and the position after, and whether any limit
     * order rests on the market. The caller's transaction holds the market's and the trader's
     * locks and computed every value from what it read under them.
     */
    async recordTrade(executor: Kysely<DB>, write: TradeWrite): Promise<RecordedTrade> {
      const { line, book, balanceDelta, positionDelta: delta, event } = write;
      const { rows } = await sql<RecordedTrade & { status: string }>`
        select status, trade_created_at, market_updated_at, balance, position_shares, position_cost_basis,
               position_net_spent, position_payout, position_updated_at, resting_orders
        from record_trade(${line.id}::uuid, ${line.marketId}::uuid, ${line.userId}::uuid, ${line.outcome}::text,
          ${line.answerIndex}::int, ${line.side}::text, ${line.amount}::bigint, ${line.shares}::bigint,
          ${line.probabilityBefore}::float8, ${line.probabilityAfter}::float8, ${line.answerPrices}::float8[],
          ${line.createdAt}::timestamptz, ${[...book.shares]}::bigint[], ${book.probability}::float8,
          ${book.escrow}::bigint, ${book.volumeDelta}::bigint, ${balanceDelta}::bigint, ${delta.shares}::bigint,
          ${delta.costBasis}::bigint, ${delta.netSpent}::bigint, ${event?.type ?? null}::text,
          ${event ? JSON.stringify(event.payload) : null}::jsonb, null::int, null::int)`.execute(executor);
      const { status, ...recorded } = rows[0]!;
      if (status !== 'recorded')
        throw new Error(`record_trade answered ${status} for market ${line.marketId}`);
      return recorded;
    },

    /**
     * Buys planned one after another on a market's known row (trade-execution.ts buysOnKnownBook)
     * in one autocommitted statement (record_trades, 021_record_trades_skip_locked.sql): each is
     * written only if the row is at its `expectedVersion` and open, its trader can pay and no
     * limit order rests on the market, and the first refused stops the rest. Answers one result
     * per buy, in order; what was recorded before a refusal is committed. The buys of other
     * markets go in the same statement (one commit for all), each market's answered apart: those
     * whose calls start in the same turn, and those that start while the statement before is in
     * flight (appends to the event log take turns anyway, so this instance keeps one such
     * statement in flight). A market or trader another transaction holds is not waited for: from
     * there on that market's buys are 'skipped'. The event log's append lock is waited for at
     * most the smallest time left before a deadline, else the statement fails (55P03); a call
     * whose deadline passed while it waited is answered 'skipped' for every buy.
     */
    recordTrades(
      writes: readonly (TradeWrite & { expectedVersion: number })[],
      deadline: Deadline,
    ): Promise<(RecordedTrade | Refusal)[]> {
      return recordTradesTogether({ writes, deadline });
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
