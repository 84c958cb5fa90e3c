import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import type { JobInBatch, JobOutcome, JobQueue } from '../../lib/jobs/queue.ts';
import { backoffDelay } from '../../lib/retry.ts';
import type { AttemptRecord, WebhookDeliveryRepository } from './webhook-delivery.repository.ts';
import type { SendResult } from './webhook-http.ts';
import { signatureHeader } from './webhook-signature.ts';
import type { LoggedEvent, SubscriptionRow } from './webhooks.repository.ts';

/** Events read per query while a subscription catches up. */
const BATCH = 20;
/** A job that has delivered for this long hands over to a fresh job (pg-boss expires long ones). */
const JOB_BUDGET_MS = 60_000;
/** Subscriptions the dispatcher queues per pass. */
const DISPATCH_PAGE = 1000;

export interface DeliveryRetryPolicy {
  /** Retries after the first attempt; then the delivery is dead-lettered. */
  limit: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

interface Deps {
  deliveries: WebhookDeliveryRepository;
  queue: Pick<JobQueue, 'sendKeyed' | 'send'>;
  /** One POST (sendWebhook with this deployment's rules, timeout and read bound). */
  post: (url: string, body: string, headers: Record<string, string>) => Promise<SendResult>;
  retry: DeliveryRetryPolicy;
  /** How many attempts a replay gets (pg-boss retries the replay job). */
  replayAttempts: number;
  log: FastifyBaseLogger;
}

export type WebhookDelivery = ReturnType<typeof createWebhookDelivery>;

/** What a receiver gets: the event as the log holds it. */
export function deliveryBody(event: LoggedEvent): string {
  return JSON.stringify({
    seq: event.seq,
    type: event.type,
    marketId: event.marketId,
    createdAt: event.createdAt.toISOString(),
    data: event.payload,
  });
}

/**
 * At-least-once delivery in sequence order per subscription. The dispatcher queues one
 * `webhooks.deliver` job per subscription behind the log (keyed, so at most one runs and one
 * waits per subscription); the job sends that subscription's events one at a time from its cursor.
 * A retryable failure parks the subscription (retry_at, with exponential backoff and jitter, or
 * the receiver's Retry-After) and queues a deferred job: nothing later is sent before it, so order
 * holds. Other subscriptions have their own jobs and are not held up. Once the retries are spent,
 * or at once for a permanent refusal (4xx other than 408/429, a redirect, a refused address), the
 * delivery is dead-lettered and the cursor moves on; a subscription that has failed without a
 * success for WEBHOOK_DISABLE_AFTER_SECONDS is disabled with the reason.
 */
export function createWebhookDelivery({ deliveries, queue, post, retry, replayAttempts, log }: Deps) {
  function secretsOf(sub: SubscriptionRow): string[] {
    const previousValid =
      sub.previousSecret && sub.previousSecretExpiresAt && sub.previousSecretExpiresAt.getTime() > Date.now();
    return previousValid ? [sub.secret, sub.previousSecret!] : [sub.secret];
  }

  function send(sub: SubscriptionRow, event: LoggedEvent): Promise<SendResult> {
    const body = deliveryBody(event);
    return post(sub.url, body, {
      'user-agent': 'markets-api-webhooks/1',
      'webhook-signature': signatureHeader(secretsOf(sub), body),
      'webhook-event': event.type,
      'webhook-seq': String(event.seq),
    });
  }

  const record = (sub: SubscriptionRow, event: LoggedEvent, result: SendResult): AttemptRecord => ({
    subscriptionId: sub.id,
    event,
    statusCode: result.kind === 'delivered' ? result.status : (result.status ?? null),
    error: result.kind === 'failed' ? result.error : null,
  });

  /** One event, in order. 'next': go on with the following event; 'stop': this job is done. */
  async function deliverInOrder(sub: SubscriptionRow, event: LoggedEvent): Promise<'next' | 'stop'> {
    const attempt = (await deliveries.attemptsSoFar(sub.id, event.seq)) + 1;
    const result = await send(sub, event);
    if (result.kind === 'delivered') {
      await deliveries.delivered(record(sub, event, result), { inOrder: true });
      return 'next';
    }
    const failure = { ...record(sub, event, result), error: result.error };
    const context = { subscriptionId: sub.id, seq: event.seq, attempt, error: result.error };
    if (result.retryable && attempt <= retry.limit) {
      const delayMs = Math.min(
        retry.maxDelayMs,
        result.retryAfterMs ?? backoffDelay(attempt - 1, retry.baseDelayMs),
      );
      const retryAt = new Date(Date.now() + delayMs);
      if (await deliveries.willRetry(failure, retryAt)) {
        log.warn(context, 'webhook subscription disabled: failing for too long');
        return 'stop';
      }
      log.info({ ...context, delayMs }, 'webhook delivery failed: will retry');
      await queue.sendKeyed('webhooks.deliver', { subscriptionId: sub.id }, sub.id, retryAt);
      return 'stop';
    }
    const disabled = await deliveries.deadLettered(failure, { inOrder: true });
    log.warn(context, 'webhook delivery dead-lettered');
    if (disabled) log.warn(context, 'webhook subscription disabled: failing for too long');
    return disabled ? 'stop' : 'next';
  }

  async function deliverSubscription(subscriptionId: string): Promise<void> {
    const started = Date.now();
    for (;;) {
      const sub = await deliveries.findSubscription(subscriptionId);
      if (sub?.status !== 'active') return;
      if (sub.retryAt && sub.retryAt.getTime() > Date.now()) {
        // Woken early (by the dispatcher before the retry was parked): come back at the retry time.
        await queue.sendKeyed('webhooks.deliver', { subscriptionId }, subscriptionId, sub.retryAt);
        return;
      }
      const { events, upTo } = await deliveries.nextEvents(sub, BATCH);
      for (const event of events) {
        if ((await deliverInOrder(sub, event)) === 'stop') return;
        if (Date.now() - started > JOB_BUDGET_MS) {
          await queue.sendKeyed('webhooks.deliver', { subscriptionId }, subscriptionId);
          return;
        }
      }
      if (events.length < BATCH) {
        // Everything up to `upTo` that matched is dealt with; the rest did not match.
        await deliveries.advanceCursor(subscriptionId, upTo);
        return;
      }
    }
  }

  return {
    /** Queues a delivery job for every subscription behind the log (a no-op for those with one waiting). */
    async dispatch(): Promise<void> {
      for (const id of await deliveries.dueSubscriptions(DISPATCH_PAGE)) {
        await queue.sendKeyed('webhooks.deliver', { subscriptionId: id }, id);
      }
    },

    /** The `webhooks.deliver` handler. */
    async handleDeliver(jobs: JobInBatch<'webhooks.deliver'>[]): Promise<JobOutcome[]> {
      const outcomes: JobOutcome[] = [];
      for (const job of jobs) {
        await deliverSubscription(job.payload.subscriptionId);
        outcomes.push({ id: job.id, status: 'completed' });
      }
      return outcomes;
    },

    /** Queues a replay of a dead delivery (its row is already back to pending). */
    enqueueReplay: (subscriptionId: string, deliveryId: string, trx: Kysely<DB>) =>
      queue.send('webhooks.replay', { subscriptionId, deliveryId }, trx),

    /**
     * The `webhooks.replay` handler: one more send of a dead-lettered event, outside the in-order
     * stream (it does not move the cursor). Retryable failures are retried by pg-boss with its
     * backoff; after the last, the delivery is dead again with the new error.
     */
    async handleReplay(jobs: JobInBatch<'webhooks.replay'>[]): Promise<JobOutcome[]> {
      const outcomes: JobOutcome[] = [];
      for (const job of jobs) {
        const sub = await deliveries.findSubscription(job.payload.subscriptionId);
        const delivery = await deliveries.findDelivery(job.payload.deliveryId);
        const event = delivery && (await deliveries.findEvent(delivery.eventSeq));
        if (!sub || !delivery || delivery.subscriptionId !== sub.id) {
          outcomes.push({ id: job.id, status: 'completed' });
          continue;
        }
        if (!event) {
          const gone = {
            subscriptionId: sub.id,
            event: { seq: delivery.eventSeq, type: delivery.eventType },
          };
          await deliveries.replayFailed(
            { ...gone, statusCode: null, error: 'the event is no longer in the log' },
            true,
          );
          outcomes.push({ id: job.id, status: 'completed' });
          continue;
        }
        const loggedEvent = { ...event, seq: Number(event.seq) };
        const result = await send(sub, loggedEvent);
        if (result.kind === 'delivered') {
          await deliveries.delivered(record(sub, loggedEvent, result), { inOrder: false });
          outcomes.push({ id: job.id, status: 'completed' });
          continue;
        }
        const final = !result.retryable || job.attempt >= replayAttempts;
        await deliveries.replayFailed(record(sub, loggedEvent, result), final);
        outcomes.push(
          final ? { id: job.id, status: 'completed' } : { id: job.id, status: 'failed', error: result.error },
        );
      }
      return outcomes;
    },
  };
}
