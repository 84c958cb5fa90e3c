import type { MarketRow, Outcome, PositionRow, TradeRow, TradeSide } from '../../db/schema.ts';
import type { Trx } from '../../db/transaction.ts';
import { BINARY_OUTCOMES, outcomeIndex } from '../../domain/binary-lmsr.ts';
import {
  type Book,
  executeTrade as executeInBook,
  type PlannedTrade,
  planTrade,
  quoteBuy as quoteBuyInBook,
  type TradeOrder,
} from '../../domain/trade.ts';
import type { MarketRepository } from '../markets/markets.repository.ts';
import type { LedgerRepository } from './ledger.repository.ts';

/**
 * The binary market's rows as the kernel's book (src/domain/trade.ts), and a trade executed
 * against them: the kernel decides, this writes what it decided.
 */
export interface Order {
  outcome: Outcome;
  side: TradeSide;
  /** buy: cents to spend; sell: micro-shares to sell. */
  quantity: number;
  /** Slippage guard on the traded outcome's price after the trade. */
  maxProbability?: number | undefined;
  minProbability?: number | undefined;
}

export interface Execution {
  trade: TradeRow;
  position: PositionRow;
  market: MarketRow;
  balance: number;
}

type BookColumns = Pick<MarketRow, 'yesShares' | 'noShares' | 'liquidity'>;

/** A binary market's book: YES is outcome 0, NO outcome 1. */
export const bookOf = (market: BookColumns): Book => ({
  outcomes: BINARY_OUTCOMES,
  shares: [market.yesShares, market.noShares],
  liquidity: market.liquidity,
});

const kernelOrder = (order: Order): TradeOrder => ({ ...order, outcome: outcomeIndex(order.outcome) });

/**
 * What `cents` buy of `outcome` from this book: the shares (micro), the outcome's price before and
 * after, and the YES probability the market then shows. The sample-data seed and the bench price
 * their buys with it.
 */
export function quoteBuy(market: BookColumns, outcome: Outcome, cents: number) {
  const quote = quoteBuyInBook(bookOf(market), outcomeIndex(outcome), cents);
  return {
    shares: quote.shares,
    before: quote.before,
    after: quote.after,
    probability: quote.pricesAfter[0]!,
  };
}

/** What `order` would do to this market for this holder (the quote); refusals throw domain errors. */
export function planOrder(
  market: BookColumns,
  holder: { balance: number; position: PositionRow | undefined },
  order: Order,
): PlannedTrade {
  return planTrade(bookOf(market), holder, kernelOrder(order));
}

/** A trade's deltas written to the market row (the book, its price, escrow, volume). Limit-order fills use it too. */
export function writeBook(
  markets: Pick<MarketRepository, 'applyTrade'>,
  trx: Trx,
  market: MarketRow,
  { result, deltas }: PlannedTrade,
): Promise<MarketRow> {
  return markets.applyTrade(trx, market.id, {
    yesShares: market.yesShares + (deltas.outcome === 0 ? deltas.shares : 0),
    noShares: market.noShares + (deltas.outcome === 1 ? deltas.shares : 0),
    probability: result.pricesAfter[0]!,
    escrow: market.escrow + deltas.escrow,
    volumeDelta: deltas.volume,
  });
}

/**
 * One trade against the LMSR market maker, inside the caller's transaction, with the market and
 * the user's row already locked by it. The kernel prices it (and refuses it, slippage included,
 * before anything is written); then the ledger line, the book, the balance and the position.
 */
export async function executeTrade(
  repos: { ledger: LedgerRepository; markets: Pick<MarketRepository, 'applyTrade'> },
  trx: Trx,
  market: MarketRow,
  user: { id: string; balance: number },
  order: Order,
): Promise<Execution> {
  const { ledger, markets } = repos;
  const position =
    order.side === 'sell' ? await ledger.findPosition(trx, market.id, user.id, order.outcome) : undefined;
  const { result, deltas } = executeInBook(
    bookOf(market),
    { balance: user.balance, position },
    kernelOrder(order),
  );
  const trade = await ledger.insertTrade(trx, {
    marketId: market.id,
    userId: user.id,
    outcome: order.outcome,
    side: order.side,
    amount: result.cents,
    shares: result.shares,
    probabilityBefore: result.probabilityBefore,
    probabilityAfter: result.probabilityAfter,
  });
  const updated = await writeBook(markets, trx, market, { result, deltas });
  const balance = await ledger.addToBalance(trx, user.id, -deltas.escrow);
  const newPosition = await ledger.applyToPosition(
    trx,
    { marketId: market.id, userId: user.id, outcome: order.outcome },
    deltas.position,
  );
  return { trade, position: newPosition, market: updated, balance };
}
