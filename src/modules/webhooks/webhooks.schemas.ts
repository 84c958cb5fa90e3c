import { z } from 'zod';
import { ok, uuid } from '../../lib/http-schemas.ts';
import { EVENT_GROUPS, isEventSelector, KNOWN_EVENT_TYPES } from '../events/index.ts';

const eventSelector = z
  .string()
  .max(40)
  .refine(isEventSelector, {
    message: `must be one of ${KNOWN_EVENT_TYPES.join(', ')}, a group wildcard (${EVENT_GROUPS.map((g) => `${g}.*`).join(', ')}) or *`,
  })
  .describe(`An event type (${KNOWN_EVENT_TYPES.join(', ')}), \`<group>.*\` or \`*\``);

export const createWebhookBody = z.strictObject({
  url: z
    .string()
    .min(1)
    .max(2048)
    .describe(
      'Where deliveries are POSTed: https (plain http only to hosts in WEBHOOK_HTTP_HOSTS); must resolve to public addresses only',
    ),
  events: z
    .array(eventSelector)
    .min(1)
    .max(20)
    .transform((list) => [...new Set(list)])
    .describe('The event types to receive'),
  markets: z
    .array(uuid)
    .min(1)
    .max(100)
    .transform((list) => [...new Set(list)])
    .optional()
    .describe('Market ids whose events to receive. Omitted: every market, which only admins may ask for'),
});
export type CreateWebhookBody = z.output<typeof createWebhookBody>;

export const webhookIdParams = z.strictObject({ id: uuid.describe('The subscription id') });
export const deliveryParams = z.strictObject({
  id: uuid.describe('The subscription id'),
  deliveryId: uuid.describe('The delivery id'),
});

export const DELIVERY_STATUSES = ['pending', 'delivered', 'dead'] as const;
export const listDeliveriesQuery = z.strictObject({
  status: z
    .enum(DELIVERY_STATUSES)
    .optional()
    .describe('Only deliveries in this state (`dead`: the dead letters)'),
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('Page size (1–100)'),
  offset: z.coerce.number().int().min(0).max(10_000).default(0).describe('Deliveries to skip'),
});
export type ListDeliveriesQuery = z.output<typeof listDeliveriesQuery>;

export const webhookSchema = z
  .object({
    id: z.string().describe('Subscription id'),
    url: z.string().describe('Where deliveries go'),
    events: z.array(z.string()).describe('Event types received'),
    markets: z.array(z.string()).nullable().describe('Markets whose events are received; null: every market'),
    status: z.enum(['active', 'disabled']).describe('A disabled subscription receives nothing until enabled'),
    disabledReason: z.string().nullable().describe('Why it was disabled'),
    failingSince: z.string().nullable().describe('Since when deliveries have failed without a success'),
    lastSeq: z.number().describe('The last event of the log this subscription has dealt with'),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Webhook' });
export type WebhookDto = z.infer<typeof webhookSchema>;

const withSecret = webhookSchema.extend({
  secret: z.string().describe('The signing secret (whsec_…). Shown this once: store it now.'),
});

export const deliverySchema = z
  .object({
    id: z.string(),
    eventSeq: z.number().describe('The event’s seq in the log (also in the body as `seq`)'),
    eventType: z.string(),
    status: z
      .enum(DELIVERY_STATUSES)
      .describe('pending: waiting for a retry (or a replay); dead: retries spent'),
    attempts: z.number(),
    lastStatusCode: z.number().nullable().describe('The receiver’s last HTTP status; null: no answer'),
    lastError: z.string().nullable(),
    nextAttemptAt: z.string().nullable(),
    createdAt: z.string(),
    lastAttemptAt: z.string().nullable(),
    deliveredAt: z.string().nullable(),
  })
  .meta({ id: 'WebhookDelivery' });
export type DeliveryDto = z.infer<typeof deliverySchema>;

export const webhookResponse = ok(webhookSchema);
export const webhookWithSecretResponse = ok(withSecret);
export const webhookListResponse = ok(z.array(webhookSchema));
export const deliveryResponse = ok(deliverySchema);
export const deliveryListResponse = z.object({
  success: z.literal(true),
  data: z.array(deliverySchema),
  meta: z.object({ limit: z.number(), offset: z.number(), hasMore: z.boolean() }),
});
