import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.ts';
import { ApiError } from '../../lib/errors.ts';
import type { AuthUser } from '../auth/index.ts';
import { newWebhookSecret } from './webhook-signature.ts';
import type { UrlRules } from './webhook-url.ts';
import { checkUrl, UrlRefused } from './webhook-url.ts';
import type { DeliveryRow, SubscriptionRow, WebhookRepository } from './webhooks.repository.ts';
import type { CreateWebhookBody, DeliveryDto, ListDeliveriesQuery, WebhookDto } from './webhooks.schemas.ts';

const MAX_SUBSCRIPTIONS_PER_USER = 25;
/** After a rotation the previous secret still signs this long, so receivers can switch without a gap. */
export const ROTATION_GRACE_MS = 24 * 3600 * 1000;

export type WebhooksService = ReturnType<typeof createWebhooksService>;

export function toWebhookDto(row: SubscriptionRow): WebhookDto {
  return {
    id: row.id,
    url: row.url,
    events: row.eventTypes,
    markets: row.marketIds,
    status: row.status,
    disabledReason: row.disabledReason,
    failingSince: row.failingSince?.toISOString() ?? null,
    lastSeq: Number(row.cursorSeq),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function toDeliveryDto(row: DeliveryRow): DeliveryDto {
  return {
    id: row.id,
    eventSeq: Number(row.eventSeq),
    eventType: row.eventType,
    status: row.status,
    attempts: row.attempts,
    lastStatusCode: row.lastStatusCode,
    lastError: row.lastError,
    nextAttemptAt: row.nextAttemptAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    lastAttemptAt: row.lastAttemptAt?.toISOString() ?? null,
    deliveredAt: row.deliveredAt?.toISOString() ?? null,
  };
}

/**
 * A user's own webhook subscriptions. Every method takes the caller; another user's
 * subscription is a 404, as if it did not exist (no probing for ids).
 */
export function createWebhooksService({
  webhooks,
  rules,
  enqueueReplay,
}: {
  webhooks: WebhookRepository;
  rules: UrlRules;
  enqueueReplay: (subscriptionId: string, deliveryId: string, trx: Kysely<DB>) => Promise<unknown>;
}) {
  async function ownedOr404(user: AuthUser, id: string) {
    const row = await webhooks.findOwned(user.id, id);
    if (!row) throw ApiError.notFound('Webhook');
    return row;
  }

  return {
    async create(user: AuthUser, body: CreateWebhookBody) {
      // Every market's events are an admin's view; others name the markets they follow.
      if (!body.markets && user.role !== 'admin') {
        throw ApiError.forbidden(
          'Only admins may subscribe to every market: name the markets (markets: [...])',
        );
      }
      try {
        await checkUrl(body.url, rules);
      } catch (error) {
        if (error instanceof UrlRefused) {
          throw new ApiError(400, 'WEBHOOK_URL_REFUSED', error.message, [
            { path: ['url'], message: error.message },
          ]);
        }
        throw error;
      }
      if (body.markets) {
        const found = await webhooks.existingMarkets(body.markets);
        const missing = body.markets.filter((id) => !found.has(id));
        if (missing.length > 0) {
          throw new ApiError(400, 'UNKNOWN_MARKET', `No such market: ${missing.join(', ')}`, [
            { path: ['markets'], message: 'unknown market ids', ids: missing },
          ]);
        }
      }
      const secret = newWebhookSecret();
      const row = await webhooks.create(
        { userId: user.id, url: body.url, eventTypes: body.events, marketIds: body.markets ?? null, secret },
        MAX_SUBSCRIPTIONS_PER_USER,
      );
      if (row === 'limit') {
        throw ApiError.conflict(
          `At most ${MAX_SUBSCRIPTIONS_PER_USER} webhook subscriptions; delete one first`,
          'TOO_MANY_WEBHOOKS',
        );
      }
      if (!row) throw ApiError.unauthorized('The user of this token no longer exists');
      return { ...toWebhookDto(row), secret };
    },

    async list(user: AuthUser) {
      return (await webhooks.listByUser(user.id)).map(toWebhookDto);
    },

    async get(user: AuthUser, id: string) {
      return toWebhookDto(await ownedOr404(user, id));
    },

    async remove(user: AuthUser, id: string) {
      if (!(await webhooks.deleteOwned(user.id, id))) throw ApiError.notFound('Webhook');
    },

    async rotateSecret(user: AuthUser, id: string) {
      const secret = newWebhookSecret();
      const row = await webhooks.rotateSecret(user.id, id, secret, new Date(Date.now() + ROTATION_GRACE_MS));
      if (!row) throw ApiError.notFound('Webhook');
      return { ...toWebhookDto(row), secret };
    },

    async enable(user: AuthUser, id: string) {
      const row = await webhooks.enable(user.id, id);
      if (!row) throw ApiError.notFound('Webhook');
      return toWebhookDto(row);
    },

    async deliveries(user: AuthUser, id: string, query: ListDeliveriesQuery) {
      await ownedOr404(user, id);
      const rows = await webhooks.listDeliveries(id, query);
      return {
        data: rows.slice(0, query.limit).map(toDeliveryDto),
        meta: { limit: query.limit, offset: query.offset, hasMore: rows.length > query.limit },
      };
    },

    /** Sends a dead-lettered delivery again (asynchronously); 409 unless it is dead. */
    async replay(user: AuthUser, id: string, deliveryId: string) {
      await ownedOr404(user, id);
      const existing = await webhooks.findDelivery(id, deliveryId);
      if (!existing) throw ApiError.notFound('Delivery');
      const reopened = await webhooks.reopenDead(id, deliveryId, (trx) => enqueueReplay(id, deliveryId, trx));
      if (!reopened) {
        throw ApiError.conflict(
          `Only a dead delivery can be replayed; this one is ${existing.status}`,
          'NOT_DEAD',
        );
      }
      return toDeliveryDto(reopened);
    },
  };
}
