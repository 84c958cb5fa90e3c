import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { LoggedEvent, SubscriptionRow } from './webhooks.repository.ts';

export type WebhookDeliveryRepository = ReturnType<typeof createWebhookDeliveryRepository>;

/** What one attempt found, written with the subscription's state in one transaction. */
export interface AttemptRecord {
  subscriptionId: string;
  event: Pick<LoggedEvent, 'seq' | 'type'>;
  statusCode: number | null;
  error: string | null;
}

/** The delivery side of 010_webhooks.sql: the dispatcher's scan, the event reads, the outcomes. */
export function createWebhookDeliveryRepository(
  db: Kysely<DB>,
  { disableAfterSeconds }: { disableAfterSeconds: number },
) {
  /** Records an attempt's outcome on its delivery row; returns the row's attempts so far. */
  const upsertDelivery = (
    trx: Kysely<DB>,
    attempt: AttemptRecord,
    status: 'pending' | 'delivered' | 'dead',
    nextAttemptAt: Date | null,
  ) =>
    trx
      .insertInto('webhookDeliveries')
      .values({
        subscriptionId: attempt.subscriptionId,
        eventSeq: attempt.event.seq,
        eventType: attempt.event.type,
        status,
        attempts: 1,
        lastStatusCode: attempt.statusCode,
        lastError: attempt.error?.slice(0, 1000) ?? null,
        nextAttemptAt,
        lastAttemptAt: sql<Date>`now()`,
        deliveredAt: status === 'delivered' ? sql<Date>`now()` : null,
      })
      .onConflict((oc) =>
        oc.columns(['subscriptionId', 'eventSeq']).doUpdateSet((eb) => ({
          status,
          attempts: sql<number>`${eb.ref('webhookDeliveries.attempts')} + 1`,
          lastStatusCode: attempt.statusCode,
          lastError: attempt.error?.slice(0, 1000) ?? null,
          nextAttemptAt,
          lastAttemptAt: sql<Date>`now()`,
          deliveredAt: status === 'delivered' ? sql<Date>`now()` : null,
        })),
      )
      .returning(['id', 'attempts'])
      .executeTakeFirstOrThrow();

  /** A failure: the failure clock starts (if it had not), and past the limit the subscription is disabled. */
  const noteFailure = async (trx: Kysely<DB>, subscriptionId: string, error: string) => {
    await trx
      .updateTable('webhookSubscriptions')
      .set({ failingSince: sql<Date>`coalesce(failing_since, now())` })
      .where('id', '=', subscriptionId)
      .execute();
    const disabled = await trx
      .updateTable('webhookSubscriptions')
      .set({
        status: 'disabled',
        retryAt: null,
        updatedAt: sql<Date>`now()`,
        disabledReason: sql<string>`'deliveries failing since ' || to_char(failing_since at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '; last error: ' || ${error.slice(0, 500)}::text`,
      })
      .where('id', '=', subscriptionId)
      .where('status', '=', 'active')
      .where(sql<boolean>`failing_since <= now() - make_interval(secs => ${disableAfterSeconds})`)
      .executeTakeFirst();
    return disabled.numUpdatedRows > 0n;
  };

  return {
    /** Active subscriptions behind the log and not waiting for a retry, oldest cursor first. */
    async dueSubscriptions(limit: number): Promise<string[]> {
      const rows = await db
        .selectFrom('webhookSubscriptions')
        .select('id')
        .where('status', '=', 'active')
        .where('cursorSeq', '<', sql<number>`(select coalesce(max(seq), 0) from events)`)
        .where((eb) => eb.or([eb('retryAt', 'is', null), eb('retryAt', '<=', sql<Date>`now()`)]))
        .orderBy('cursorSeq')
        .limit(limit)
        .execute();
      return rows.map((r) => r.id);
    },

    findSubscription: (id: string) =>
      db.selectFrom('webhookSubscriptions').selectAll().where('id', '=', id).executeTakeFirst(),

    /**
     * The subscription's next events after its cursor, oldest first, and how far the log was read.
     * `upTo` is read first: seq order is commit order, so every event at or below it is visible by
     * then, and moving the cursor to it skips nothing that matched.
     */
    async nextEvents(sub: SubscriptionRow, limit: number): Promise<{ events: LoggedEvent[]; upTo: number }> {
      const top = await db
        .selectFrom('events')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .executeTakeFirst();
      const upTo = Number(top?.seq ?? 0);
      const events = await db
        .selectFrom('events')
        .select(['seq', 'type', 'marketId', 'payload', 'createdAt'])
        .where('seq', '>', sub.cursorSeq)
        .where('seq', '<=', upTo)
        .where(
          sql<boolean>`(type = any(${sub.eventTypes}::text[]) or split_part(type, '.', 1) || '.*' = any(${sub.eventTypes}::text[]) or '*' = any(${sub.eventTypes}::text[]))`,
        )
        .$if(sub.marketIds !== null, (q) => q.where(sql<boolean>`market_id = any(${sub.marketIds}::uuid[])`))
        .orderBy('seq')
        .limit(limit)
        .execute();
      return { events: events.map((e) => ({ ...e, seq: Number(e.seq) })), upTo };
    },

    findEvent: (seq: number) =>
      db
        .selectFrom('events')
        .select(['seq', 'type', 'marketId', 'payload', 'createdAt'])
        .where('seq', '=', seq)
        .executeTakeFirst(),

    findDelivery: (id: string) =>
      db.selectFrom('webhookDeliveries').selectAll().where('id', '=', id).executeTakeFirst(),

    /** Attempts already made for this event (0: first attempt now). */
    async attemptsSoFar(subscriptionId: string, seq: number): Promise<number> {
      const row = await db
        .selectFrom('webhookDeliveries')
        .select('attempts')
        .where('subscriptionId', '=', subscriptionId)
        .where('eventSeq', '=', seq)
        .executeTakeFirst();
      return row?.attempts ?? 0;
    },

    /** Moves the cursor forward past events that needed no delivery. */
    async advanceCursor(subscriptionId: string, seq: number): Promise<void> {
      await db
        .updateTable('webhookSubscriptions')
        .set({ cursorSeq: seq })
        .where('id', '=', subscriptionId)
        .where('cursorSeq', '<', seq)
        .execute();
    },

    /** Delivered: the row, the cursor past it, the failure clock stopped, in one transaction. */
    delivered(attempt: AttemptRecord, { inOrder }: { inOrder: boolean }) {
      return db.transaction().execute(async (trx) => {
        await upsertDelivery(trx, attempt, 'delivered', null);
        await trx
          .updateTable('webhookSubscriptions')
          .set({
            failingSince: null,
            // A replay's success says nothing of the in-order delivery waiting for its retry.
            ...(inOrder && {
              retryAt: null,
              cursorSeq: sql<number>`greatest(cursor_seq, ${attempt.event.seq})`,
            }),
          })
          .where('id', '=', attempt.subscriptionId)
          .execute();
      });
    },

    /** A retryable failure: nothing later is sent until `retryAt`. True if this disabled the subscription. */
    willRetry(attempt: AttemptRecord & { error: string }, retryAt: Date) {
      return db.transaction().execute(async (trx) => {
        await upsertDelivery(trx, attempt, 'pending', retryAt);
        await trx
          .updateTable('webhookSubscriptions')
          .set({ retryAt })
          .where('id', '=', attempt.subscriptionId)
          .execute();
        return noteFailure(trx, attempt.subscriptionId, attempt.error);
      });
    },

    /** A replay's failed attempt: on the delivery row only (`final`: dead again). */
    async replayFailed(attempt: AttemptRecord, final: boolean): Promise<void> {
      await upsertDelivery(db, attempt, final ? 'dead' : 'pending', null);
    },

    /** Retries spent (or a permanent refusal): dead-lettered, and in order the cursor moves past it. */
    deadLettered(attempt: AttemptRecord & { error: string }, { inOrder }: { inOrder: boolean }) {
      return db.transaction().execute(async (trx) => {
        await upsertDelivery(trx, attempt, 'dead', null);
        await trx
          .updateTable('webhookSubscriptions')
          .set({
            retryAt: null,
            ...(inOrder && { cursorSeq: sql<number>`greatest(cursor_seq, ${attempt.event.seq})` }),
          })
          .where('id', '=', attempt.subscriptionId)
          .execute();
        return noteFailure(trx, attempt.subscriptionId, attempt.error);
      });
    },
  };
}
