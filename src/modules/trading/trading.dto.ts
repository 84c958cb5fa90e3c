import type { MarketRow, PositionRow, TradeRow } from '../../db/schema.ts';
import { toShares, toUnits } from './money.ts';

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
