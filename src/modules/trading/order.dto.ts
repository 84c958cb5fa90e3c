import type { OrderRow, TradeSide } from '../../db/schema.ts';
import { LIMIT_SCALE } from '../../domain/limit-order.ts';
import { toShares, toUnits } from '../../domain/money.ts';
import { outcomeOfAnswer } from './order-answers.ts';

/** A quantity of an order in the API's units: money for a buy, shares for a sell. */
const units = (side: TradeSide, quantity: number) =>
  side === 'buy' ? toUnits(quantity) : toShares(quantity);

export const orderDto = (o: OrderRow) => ({
  id: o.id,
  marketId: o.marketId,
  userId: o.userId,
  outcome: outcomeOfAnswer(o.answerIndex),
  side: o.side,
  limitProbability: o.limitMilli / LIMIT_SCALE,
  amount: units(o.side, o.amount),
  remaining: units(o.side, o.remaining),
  reserved: units(o.side, o.reserved),
  filledShares: toShares(o.filledShares),
  filledAmount: toUnits(o.filledAmount),
  status: o.status,
  expiresAt: o.expiresAt?.toISOString() ?? null,
  createdAt: o.createdAt.toISOString(),
  updatedAt: o.updatedAt.toISOString(),
});

export const orderLevelDto = (l: {
  answerIndex: number;
  side: TradeSide;
  limitMilli: number;
  remaining: number;
  orders: number;
}) => ({
  outcome: outcomeOfAnswer(l.answerIndex),
  side: l.side,
  limitProbability: l.limitMilli / LIMIT_SCALE,
  amount: units(l.side, l.remaining),
  orders: l.orders,
});
