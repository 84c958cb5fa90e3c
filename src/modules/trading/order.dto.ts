import type { MarketRow, OrderRow, Outcome, TradeSide } from '../../db/schema.ts';
import { LIMIT_SCALE } from '../../domain/limit-order.ts';
import { toShares, toUnits } from '../../domain/money.ts';
import { outcomeOf } from './trade-execution.ts';

/** A quantity of an order in the API's units: money for a buy, shares for a sell. */
const units = (side: TradeSide, quantity: number) =>
  side === 'buy' ? toUnits(quantity) : toShares(quantity);

/** The answer an order trades, as the API names it. */
export interface OrderAnswer {
  answerId: string;
  outcome: Outcome | null;
}

/** The answer at this index of this market. */
export const orderAnswerIn = (
  market: Pick<MarketRow, 'type' | 'answers'>,
  answerIndex: number,
): OrderAnswer => ({
  answerId: market.answers[answerIndex]!.id,
  outcome: outcomeOf(market, answerIndex),
});

export const orderDto = (o: OrderRow, answer: OrderAnswer) => ({
  id: o.id,
  marketId: o.marketId,
  userId: o.userId,
  outcome: answer.outcome,
  answerId: answer.answerId,
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

export const orderLevelDto = (
  market: Pick<MarketRow, 'type' | 'answers'>,
  l: { answerIndex: number; side: TradeSide; limitMilli: number; remaining: number; orders: number },
) => ({
  ...orderAnswerIn(market, l.answerIndex),
  side: l.side,
  limitProbability: l.limitMilli / LIMIT_SCALE,
  amount: units(l.side, l.remaining),
  orders: l.orders,
});
