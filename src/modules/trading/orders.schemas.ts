import { z } from 'zod';
import { limitMilliOf } from '../../domain/limit-order.ts';
import { ok, pageCursor, uuid } from '../../lib/http-schemas.ts';
import { answerAndQuantity, answerChoiceOf, answerFields, tradeSchema } from './trading.schemas.ts';

const outcome = z.enum(['YES', 'NO']);
const side = z.enum(['buy', 'sell']);
const status = z.enum(['open', 'filled', 'cancelled', 'expired']);

export const placeOrderBody = z
  .strictObject({
    ...answerFields,
    side,
    amount: z
      .number()
      .positive()
      .max(1_000_000_000)
      .describe('buy: money to spend (2 decimals); sell: shares to sell (6 decimals)'),
    limitProbability: z
      .number()
      .gt(0)
      .lt(1)
      .describe('buy: pay up to this price; sell: sell down to it. Inside (0, 1), at most 3 decimals'),
    expiresAt: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('ISO 8601; the order expires then (its reservation returned) if not filled'),
  })
  .transform((body, ctx) => {
    const parsed = answerAndQuantity(body, ctx);
    const limitMilli = limitMilliOf(body.limitProbability);
    if (limitMilli === undefined)
      ctx.addIssue({ code: 'custom', path: ['limitProbability'], message: 'at most 3 decimals' });
    const expiresAt = body.expiresAt === undefined ? undefined : new Date(body.expiresAt);
    if (expiresAt && expiresAt.getTime() <= Date.now())
      ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'must be in the future' });
    if (!('units' in parsed) || limitMilli === undefined) return z.NEVER;
    return { ...answerChoiceOf(body), side: body.side, quantity: parsed.units, limitMilli, expiresAt };
  });

export const orderIdParams = z.object({ id: uuid.describe('The order id') });

export const orderSchema = z
  .object({
    id: z.string(),
    marketId: z.string(),
    userId: z.string(),
    outcome: outcome.nullable().describe('Binary markets: YES or NO; null on multiple-choice markets'),
    answerId: z.string().describe('The answer the order trades'),
    side,
    limitProbability: z.number(),
    amount: z.number().describe('As placed: money (buy) or shares (sell)'),
    remaining: z.number().describe('Not yet filled, in the same unit as amount'),
    reserved: z.number().describe('Held back while open (money for a buy, shares for a sell); 0 once closed'),
    filledShares: z.number(),
    filledAmount: z.number().describe('Money paid (buy) or received (sell) by its fills'),
    status,
    expiresAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Order' });

export const placeOrderResponse = ok(
  z.object({
    order: orderSchema,
    trade: tradeSchema.nullable().describe('The fill at placement, if the price allowed one'),
    balance: z.number().describe('Your balance after placing (the reservation taken), in units'),
  }),
);

export const orderResponse = ok(orderSchema);

export const ordersQuery = z.strictObject({
  status: status.optional().describe('Only orders in this status'),
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('Orders per page, 1–100, newest first'),
  cursor: pageCursor,
});

export const orderPageResponse = z.object({
  success: z.literal(true),
  data: z.array(orderSchema),
  meta: z.object({ limit: z.number(), nextCursor: z.string().nullable(), hasMore: z.boolean() }),
});

export const orderbookResponse = ok(
  z
    .object({
      marketId: z.string(),
      levels: z.array(
        z.object({
          outcome: outcome.nullable().describe('Binary markets: YES or NO; null on multiple-choice markets'),
          answerId: z.string(),
          side,
          limitProbability: z.number(),
          amount: z.number().describe('Resting size: money for buys, shares for sells'),
          orders: z.number(),
        }),
      ),
    })
    .meta({ id: 'OrderBook' }),
);
