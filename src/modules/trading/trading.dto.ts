import type { MarketRow, PositionRow, TradeRow } from '../../db/schema.ts';
import { headlineProbability } from '../../domain/answers.ts';
import { toShares, toUnits } from '../../domain/money.ts';
import type { PlannedTrade } from '../../domain/trade.ts';
import { toMarketDto } from '../markets/market-dto.ts';
import { type Execution, type Order, outcomeOf } from './trade-execution.ts';

/** API shapes of the money tables: money in units, shares in shares, dates in ISO 8601. */
export const tradeDto = (t: TradeRow & { answerId: string }) => ({
  id: t.id,
  marketId: t.marketId,
  userId: t.userId,
  outcome: t.outcome,
  answerId: t.answerId,
  side: t.side,
  amount: toUnits(t.amount),
  shares: toShares(t.shares),
  probabilityBefore: t.probabilityBefore,
  probabilityAfter: t.probabilityAfter,
  createdAt: t.createdAt.toISOString(),
});

export const positionDto = (p: PositionRow & { answerId: string }) => ({
  marketId: p.marketId,
  userId: p.userId,
  outcome: p.outcome,
  answerId: p.answerId,
  shares: toShares(p.shares),
  costBasis: toUnits(p.costBasis),
  netSpent: toUnits(p.netSpent),
  payout: toUnits(p.payout),
  updatedAt: p.updatedAt.toISOString(),
});

/** The book after a trade; `answers` carry every answer's price (they sum to 1). */
export const marketBookDto = (m: MarketRow) => {
  const { yesShares, noShares, answers } = toMarketDto(m);
  return {
    id: m.id,
    probability: m.probability,
    volume: toUnits(m.volume),
    liquidity: toUnits(m.liquidity),
    yesShares,
    noShares,
    status: m.status,
    version: m.version,
    answers,
  };
};

const answerIdAt = (market: MarketRow, index: number) => market.answers[index]!.id;

export type TradeResult = ReturnType<typeof toResult>;

/** A trade's public part, its `trade.created` event: the ledger line and the book after it. */
export const tradeEventDto = (e: Pick<Execution, 'trade' | 'market'>) => ({
  trade: tradeDto({ ...e.trade, answerId: answerIdAt(e.market, e.trade.answerIndex) }),
  market: marketBookDto(e.market),
});

/** What the trader is answered: the event's part, and their own position and balance. */
export const toResult = (e: Execution) => {
  const { trade, market } = tradeEventDto(e);
  return {
    trade,
    position: positionDto({ ...e.position, answerId: answerIdAt(e.market, e.position.answerIndex) }),
    market,
    balance: toUnits(e.balance),
  };
};

export type QuoteResult = ReturnType<typeof toQuote>;

/** A plan in the trade's units: `amount`, `shares` and the probabilities are what the trade would record. */
export const toQuote = (
  market: MarketRow,
  input: Pick<Order, 'answerIndex' | 'side'>,
  { result, deltas }: PlannedTrade,
  balance: number,
) => ({
  outcome: outcomeOf(market, input.answerIndex),
  answerId: answerIdAt(market, input.answerIndex),
  side: input.side,
  amount: toUnits(result.cents),
  shares: toShares(result.shares),
  averagePrice: toUnits(result.cents) / toShares(result.shares),
  probabilityBefore: result.probabilityBefore,
  probabilityAfter: result.probabilityAfter,
  marketProbability: headlineProbability(market.type, result.pricesAfter),
  answers: market.answers.map((a, i) => ({ id: a.id, text: a.text, probability: result.pricesAfter[i]! })),
  balanceAfter: toUnits(balance - deltas.escrow),
  guard: result.slippage
    ? { passes: false as const, code: 'SLIPPAGE' as const, message: result.slippage }
    : { passes: true as const, code: null, message: null },
});

/** The money conservation check in units: `difference` must be exactly 0. */
export const ledgerDto = ({
  granted,
  balances,
  escrow,
  reservations,
}: {
  granted: number;
  balances: number;
  escrow: number;
  reservations: number;
}) => ({
  granted: toUnits(granted),
  balances: toUnits(balances),
  escrow: toUnits(escrow),
  reservations: toUnits(reservations),
  difference: toUnits(granted - balances - escrow - reservations),
});
