import { type Kysely, sql } from 'kysely';
import { allColumns } from '../../db/columns.ts';
import type { DB, OrderRow, OrderStatus, Outcome, TradeSide } from '../../db/schema.ts';
import type { Trx } from '../../db/transaction.ts';
import { LIMIT_SCALE } from '../../domain/limit-order.ts';

export type OrdersRepository = ReturnType<typeof createOrdersRepository>;

type After = { createdAt: Date; id: string } | undefined;

/** Named, not `*`: statements of trades and order placements are prepared (columns.ts). */
const ORDER_COLUMNS = allColumns<OrderRow>({
  id: true,
  marketId: true,
  userId: true,
  answerIndex: true,
  side: true,
  limitMilli: true,
  amount: true,
  remaining: true,
  reserved: true,
  reservedCostBasis: true,
  filledShares: true,
  filledAmount: true,
  status: true,
  expiresAt: true,
  createdAt: true,
  updatedAt: true,
});

/** An order's answer, read with it: the answer's id, and a binary market's YES|NO (its answers' text). */
const answerColumns = [
  sql<string>`(select a.id from market_answers a where a.market_id = orders.market_id and a.index = orders.answer_index)`.as(
    'answerId',
  ),
  sql<Outcome | null>`(select case when m.type = 'binary' then a.text end from market_answers a join markets m on m.id = a.market_id where a.market_id = orders.market_id and a.index = orders.answer_index)`.as(
    'outcome',
  ),
] as const;

/**
 * Data access for limit orders: the only code that writes the orders table, and so the only writer
 * of reservations (an open order's `reserved` cents or micro-shares). Moving money or shares
 * between a balance or position and a reservation is two writes in one transaction: this one,
 * and the ledger repository's (balances, positions). Every write runs under the market's row lock
 * (the lock order of ledger.repository.ts: market, users, then orders).
 */
export function createOrdersRepository(db: Kysely<DB>) {
  return {
    insert(
      trx: Trx,
      order: Pick<
        OrderRow,
        | 'marketId'
        | 'userId'
        | 'answerIndex'
        | 'side'
        | 'limitMilli'
        | 'amount'
        | 'reservedCostBasis'
        | 'expiresAt'
      >,
    ): Promise<OrderRow> {
      return trx
        .insertInto('orders')
        .values({ ...order, remaining: order.amount, reserved: order.amount })
        .returning(ORDER_COLUMNS)
        .executeTakeFirstOrThrow();
    },

    findById(id: string, trx: Kysely<DB> = db): Promise<OrderRow | undefined> {
      return trx.selectFrom('orders').select(ORDER_COLUMNS).where('id', '=', id).executeTakeFirst();
    },

    lock(trx: Trx, id: string): Promise<OrderRow | undefined> {
      return trx
        .selectFrom('orders')
        .select(ORDER_COLUMNS)
        .where('id', '=', id)
        .forNoKeyUpdate()
        .executeTakeFirst();
    },

    async countOpen(trx: Trx, marketId: string, userId: string): Promise<number> {
      const row = await trx
        .selectFrom('orders')
        .select(sql<number>`count(*)::int`.as('n'))
        .where('marketId', '=', marketId)
        .where('userId', '=', userId)
        .where('status', '=', 'open')
        .executeTakeFirstOrThrow();
      return row.n;
    },

    /**
     * Open, unexpired orders the prices have crossed (a buy's limit above its answer's price, a
     * sell's below), oldest first, at most `limit`. Expiry is checked against the clock now, not
     * the transaction's start: an order past its expiresAt never fills.
     */
    crossed(trx: Trx, marketId: string, prices: readonly number[], limit: number): Promise<OrderRow[]> {
      return trx
        .selectFrom('orders')
        .select(ORDER_COLUMNS)
        .where('marketId', '=', marketId)
        .where('status', '=', 'open')
        .where((eb) =>
          eb.or([eb('expiresAt', 'is', null), eb('expiresAt', '>', sql<Date>`clock_timestamp()`)]),
        )
        .where((eb) =>
          eb.or(
            prices.map((p, i) =>
              eb.and([
                eb('answerIndex', '=', i),
                eb.or([
                  eb.and([
                    eb('side', '=', 'buy'),
                    eb('limitMilli', '>', sql<number>`${p * LIMIT_SCALE}::float8`),
                  ]),
                  eb.and([
                    eb('side', '=', 'sell'),
                    eb('limitMilli', '<', sql<number>`${p * LIMIT_SCALE}::float8`),
                  ]),
                ]),
              ]),
            ),
          ),
        )
        .orderBy('createdAt')
        .orderBy('id')
        .limit(limit)
        .execute();
    },

    /** A fill: what the order has left and holds back, and what it has filled so far. */
    applyFill(
      trx: Trx,
      id: string,
      fill: { quantity: number; reservedCostBasis: number; shares: number; cents: number },
    ): Promise<OrderRow> {
      return trx
        .updateTable('orders')
        .set({
          remaining: sql<number>`remaining - ${fill.quantity}`,
          reserved: sql<number>`reserved - ${fill.quantity}`,
          reservedCostBasis: sql<number>`reserved_cost_basis - ${fill.reservedCostBasis}`,
          filledShares: sql<number>`filled_shares + ${fill.shares}`,
          filledAmount: sql<number>`filled_amount + ${fill.cents}`,
          status: sql<OrderStatus>`case when remaining - ${fill.quantity} = 0 then 'filled' else 'open' end`,
          updatedAt: sql<Date>`clock_timestamp()`,
        })
        .where('id', '=', id)
        .where('status', '=', 'open')
        .returning(ORDER_COLUMNS)
        .executeTakeFirstOrThrow();
    },

    /** Closes open orders (their reservations must have been returned in the same transaction). */
    async close(
      trx: Trx,
      ids: readonly string[],
      status: Exclude<OrderStatus, 'open' | 'filled'>,
    ): Promise<void> {
      if (ids.length === 0) return;
      await trx
        .updateTable('orders')
        .set({ status, reserved: 0, reservedCostBasis: 0, updatedAt: sql<Date>`clock_timestamp()` })
        .where('id', 'in', [...ids])
        .where('status', '=', 'open')
        .execute();
    },

    /** A market's open orders, locked (settlement cancels them all). */
    openInMarket(trx: Trx, marketId: string): Promise<OrderRow[]> {
      return trx
        .selectFrom('orders')
        .select(ORDER_COLUMNS)
        .where('marketId', '=', marketId)
        .where('status', '=', 'open')
        .orderBy('id')
        .forNoKeyUpdate()
        .execute();
    },

    /** A market's open orders past their expiresAt, locked. */
    dueInMarket(trx: Trx, marketId: string): Promise<OrderRow[]> {
      return trx
        .selectFrom('orders')
        .select(ORDER_COLUMNS)
        .where('marketId', '=', marketId)
        .where('status', '=', 'open')
        .where('expiresAt', '<=', sql<Date>`clock_timestamp()`)
        .orderBy('id')
        .forNoKeyUpdate()
        .execute();
    },

    /** Markets with open orders past their expiresAt (the expiry schedule's work list). */
    async marketsWithDue(limit: number): Promise<string[]> {
      const rows = await db
        .selectFrom('orders')
        .select('marketId')
        .distinct()
        .where('status', '=', 'open')
        .where('expiresAt', '<=', sql<Date>`clock_timestamp()`)
        .limit(limit)
        .execute();
      return rows.map((r) => r.marketId);
    },

    /** A user's orders, newest first, one more than `limit` (so the page knows whether more follow). */
    userPage(
      userId: string,
      status: OrderStatus | undefined,
      limit: number,
      after: After,
    ): Promise<(OrderRow & { answerId: string; outcome: Outcome | null })[]> {
      let q = db.selectFrom('orders').selectAll().select(answerColumns).where('userId', '=', userId);
      if (status) q = q.where('status', '=', status);
      if (after)
        q = q.where((eb) => eb(eb.refTuple('createdAt', 'id'), '<', eb.tuple(after.createdAt, after.id)));
      return q
        .orderBy('createdAt', 'desc')
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute();
    },

    /** Resting size per price level and side: open, unexpired orders grouped by answer, side and limit. */
    async levels(
      marketId: string,
    ): Promise<
      { answerIndex: number; side: TradeSide; limitMilli: number; remaining: number; orders: number }[]
    > {
      const rows = await db
        .selectFrom('orders')
        .select([
          'answerIndex',
          'side',
          'limitMilli',
          sql<string>`sum(remaining)::text`.as('remaining'),
          sql<number>`count(*)::int`.as('orders'),
        ])
        .where('marketId', '=', marketId)
        .where('status', '=', 'open')
        .where((eb) =>
          eb.or([eb('expiresAt', 'is', null), eb('expiresAt', '>', sql<Date>`clock_timestamp()`)]),
        )
        .groupBy(['answerIndex', 'side', 'limitMilli'])
        .orderBy('answerIndex')
        .orderBy('side')
        .orderBy('limitMilli', 'desc')
        .execute();
      return rows.map((r) => ({ ...r, remaining: Number(r.remaining) }));
    },
  };
}
