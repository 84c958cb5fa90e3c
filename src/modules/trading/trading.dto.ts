import type { MarketRow, PositionRow, TradeRow } from '../../db/schema.ts';
import { toShares, toUnits } from '../../domain/money.ts';
import type { PlannedTrade } from '../../domain/trade.ts';
import type { Execution } from './trade-execution.ts';
import type { TradeInput } from './trading.service.ts';

/** API shapes of the money tables: money in units, shares in shares, dates in ISO 8601. */
export const tradeDto = (t: TradeRow) => ({
  id: t.id,
  marketId: t.marketId,
  userId: t.userId,
  outcome: t.outcome,
  side: t.side,
  amount: toUnits(t.amount),
  shares: toShares(t.shares),
  probabilityBefore: t.probabilityBefore,
  probabilityAfter: t.probabilityAfter,
  createdAt: t.createdAt.toISOString(),
});

export const positionDto = (p: PositionRow) => ({
  marketId: p.marketId,
  userId: p.userId,
  outcome: p.outcome,
  shares: toShares(p.shares),
  costBasis: toUnits(p.costBasis),
  netSpent: toUnits(p.netSpent),
  payout: toUnits(p.payout),
  updatedAt: p.updatedAt.toISOString(),
});

export const marketBookDto = (m: MarketRow) => ({
  id: m.id,
  probability: m.probability,
  volume: toUnits(m.volume),
  liquidity: toUnits(m.liquidity),
  yesShares: toShares(m.yesShares),
  noShares: toShares(m.noShares),
  status: m.status,
  version: m.version,
});

export type TradeResult = ReturnType<typeof toResult>;

export const toResult = (e: Execution) => ({
  trade: tradeDto(e.trade),
  position: positionDto(e.position),
  market: marketBookDto(e.market),
  balance: toUnits(e.balance),
});

export type QuoteResult = ReturnType<typeof toQuote>;

/** A plan in the trade's units: `amount`, `shares` and the probabilities are what the trade would record. */
export const toQuote = (
  input: Pick<TradeInput, 'outcome' | 'side'>,
  { result, deltas }: PlannedTrade,
  balance: number,
) => ({
  outcome: input.outcome,
  side: input.side,
  amount: toUnits(result.cents),
  shares: toShares(result.shares),
  averagePrice: toUnits(result.cents) / toShares(result.shares),
  probabilityBefore: result.probabilityBefore,
  probabilityAfter: result.probabilityAfter,
  marketProbability: result.pricesAfter[0]!,
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
