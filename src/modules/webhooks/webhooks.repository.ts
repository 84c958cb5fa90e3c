import { type Kysely, type Selectable, sql } from 'kysely';
import type { DB, WebhookDeliveriesTable, WebhookSubscriptionsTable } from '../../db/schema.ts';

export type SubscriptionRow = Selectable<WebhookSubscriptionsTable>;
export type DeliveryRow = Selectable<WebhookDeliveriesTable>;
export type WebhookRepository = ReturnType<typeof createWebhookRepository>;

/** One event of the log as a subscription receives it. */
export interface LoggedEvent {
  seq: number;
  type: string;
  marketId: string | null;
  payload: unknown;
  createdAt: Date;
}

/** Subscriptions and their own deliveries (010_webhooks.sql). Every user-facing method takes the owner. */
export function createWebhookRepository(db: Kysely<DB>) {
  const owned = (userId: string, id: string) =>
    db.selectFrom('webhookSubscriptions').selectAll().where('id', '=', id).where('userId', '=', userId);

  return {
    /**
     * Inserts a subscription unless its owner has `limit` already (then 'limit'); undefined if the
     * owner is gone. Its cursor starts at the end of the log: it receives what happens from now on.
     * The count and insert run under the owner's row lock, as API keys do, so the cap holds.
     */
    create(
      row: { userId: string; url: string; eventTypes: string[]; marketIds: string[] | null; secret: string },
      limit: number,
    ) {
      return db.transaction().execute(async (trx) => {
        const owner = await trx
          .selectFrom('users')
          .select('id')
          .where('id', '=', row.userId)
          .forNoKeyUpdate()
          .executeTakeFirst();
        if (!owner) return undefined;
        const { count } = await trx
          .selectFrom('webhookSubscriptions')
          .select((eb) => eb.fn.countAll<number>().as('count'))
          .where('userId', '=', row.userId)
          .executeTakeFirstOrThrow();
        if (Number(count) >= limit) return 'limit' as const;
        return trx
          .insertInto('webhookSubscriptions')
          .values({ ...row, cursorSeq: sql<number>`(select coalesce(max(seq), 0) from events)` })
          .returningAll()
          .executeTakeFirstOrThrow();
      });
    },

    listByUser(userId: string) {
      return db
        .selectFrom('webhookSubscriptions')
        .selectAll()
        .where('userId', '=', userId)
        .orderBy('createdAt', 'desc')
        .orderBy('id')
        .limit(100)
        .execute();
    },

    findOwned: (userId: string, id: string) => owned(userId, id).executeTakeFirst(),

    findById: (id: string) =>
      db.selectFrom('webhookSubscriptions').selectAll().where('id', '=', id).executeTakeFirst(),

    async deleteOwned(userId: string, id: string): Promise<boolean> {
      const result = await db
        .deleteFrom('webhookSubscriptions')
        .where('id', '=', id)
        .where('userId', '=', userId)
        .executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    /** The new secret signs from now on; the old one also signs until `previousUntil`. */
    rotateSecret(userId: string, id: string, secret: string, previousUntil: Date) {
      return db
        .updateTable('webhookSubscriptions')
        .set({
          previousSecret: sql<string>`secret`,
          previousSecretExpiresAt: previousUntil,
          secret,
          updatedAt: sql<Date>`now()`,
        })
        .where('id', '=', id)
        .where('userId', '=', userId)
        .returningAll()
        .executeTakeFirst();
    },

    /** Active again, from where its cursor stopped; its failure clock starts afresh. */
    enable(userId: string, id: string) {
      return db
        .updateTable('webhookSubscriptions')
        .set({
          status: 'active',
          disabledReason: null,
          failingSince: null,
          retryAt: null,
          updatedAt: sql<Date>`now()`,
        })
        .where('id', '=', id)
        .where('userId', '=', userId)
        .returningAll()
        .executeTakeFirst();
    },

    /** Which of these markets exist. */
    async existingMarkets(ids: string[]): Promise<Set<string>> {
      if (ids.length === 0) return new Set();
      const rows = await db.selectFrom('markets').select('id').where('id', 'in', ids).execute();
      return new Set(rows.map((r) => r.id));
    },

    listDeliveries(
      subscriptionId: string,
      {
        status,
        limit,
        offset,
      }: { status?: DeliveryRow['status'] | undefined; limit: number; offset: number },
    ) {
      let query = db
        .selectFrom('webhookDeliveries')
        .selectAll()
        .where('subscriptionId', '=', subscriptionId)
        .orderBy('eventSeq', 'desc')
        .limit(limit + 1)
        .offset(offset);
      if (status) query = query.where('status', '=', status);
      return query.execute();
    },

    findDelivery: (subscriptionId: string, id: string) =>
      db
        .selectFrom('webhookDeliveries')
        .selectAll()
        .where('id', '=', id)
        .where('subscriptionId', '=', subscriptionId)
        .executeTakeFirst(),

    /**
     * A dead delivery back to pending, for a replay, with `enqueue` (the replay job) in the same
     * transaction: either both happen or neither. Undefined unless it was dead.
     */
    reopenDead(subscriptionId: string, id: string, enqueue: (trx: Kysely<DB>) => Promise<unknown>) {
      return db.transaction().execute(async (trx) => {
        const row = await trx
          .updateTable('webhookDeliveries')
          .set({ status: 'pending', nextAttemptAt: null })
          .where('id', '=', id)
          .where('subscriptionId', '=', subscriptionId)
          .where('status', '=', 'dead')
          .returningAll()
          .executeTakeFirst();
        if (row) await enqueue(trx);
        return row;
      });
    },
  };
}
