import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB, MarketRow, Outcome, PositionRow, TradeRow, TradeSide } from '../../db/schema.ts';
import type { Trx } from '../../db/transaction.ts';
import { headlineProbability } from '../../domain/answers.ts';
import { BINARY_OUTCOMES } from '../../domain/binary-lmsr.ts';
import { assertTradable } from '../../domain/market-status.ts';
import {
  type Book,
  executeTrade as executeInBook,
  type PlannedTrade,
  planTrade,
  quoteBuy as quoteBuyInBook,
  type TradeOrder,
} from '../../domain/trade.ts';
import type { NewEvent } from '../events/events.repository.ts';
import type { LedgerRepository } from './ledger.repository.ts';

/**
 * A market's rows as the kernel's book (src/domain/trade.ts), and a trade executed against them:
 * the kernel decides, this writes what it decided. Binary and multiple-choice markets alike: an
 * order names the answer by index (a binary market's YES is 0, NO is 1).
 */
export interface Order {
  /** Index of the traded answer (answerIndexOf turns a binary outcome into it). */
  answerIndex: number;
  side: TradeSide;
  /** buy: cents to spend; sell: micro-shares to sell. */
  quantity: number;
  /** Slippage guard on the traded answer's price after the trade. */
  maxProbability?: number | undefined;
  minProbability?: number | undefined;
}

export interface Execution {
  trade: TradeRow;
  position: PositionRow;
  market: MarketRow;
  balance: number;
  /** Whether limit orders rest on the market (only then can the trade have crossed one). */
  restingOrders: boolean;
}

type BookColumns = Pick<MarketRow, 'shares' | 'liquidity'> & Partial<Pick<MarketRow, 'answers' | 'type'>>;

/** A binary outcome as its answer index: YES is 0, NO is 1. */
export const answerIndexOf = (outcome: Outcome): number => (outcome === 'YES' ? 0 : 1);

/** The binary outcome of an answer index on a binary market; null on a multiple-choice one. */
export const outcomeOf = (market: Pick<MarketRow, 'type'>, answerIndex: number): Outcome | null =>
  market.type === 'multiple' ? null : BINARY_OUTCOMES[answerIndex]!;

/** A market's book: its shares per answer, its b, and the answers' names for messages. */
export const bookOf = (market: BookColumns): Book => ({
  outcomes:
    market.type === 'multiple' && market.answers ? market.answers.map((a) => a.text) : BINARY_OUTCOMES,
  shares: market.shares,
  liquidity: market.liquidity,
});

const kernelOrder = ({ answerIndex, ...order }: Order): TradeOrder => ({ ...order, outcome: answerIndex });

/**
 * What `cents` buy of a binary market's `outcome`: the shares (micro), the outcome's price before
 * and after, and the YES probability the market then shows. The sample-data seed and the bench
 * price their buys with it.
 */
export function quoteBuy(market: BookColumns, outcome: Outcome, cents: number) {
  return quoteBuyAnswer(market, answerIndexOf(outcome), cents);
}

/** quoteBuy by answer index (any market); `probability` is answer 0's price after. */
export function quoteBuyAnswer(market: BookColumns, answerIndex: number, cents: number) {
  const quote = quoteBuyInBook(bookOf(market), answerIndex, cents);
  return {
    shares: quote.shares,
    before: quote.before,
    after: quote.after,
    probability: quote.pricesAfter[0]!,
    pricesAfter: quote.pricesAfter,
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

/** A trade's deltas as the market row's new book: shares, headline price, escrow, and the volume it adds. */
function bookAfter(market: MarketRow, { result, deltas }: PlannedTrade) {
  return {
    shares: market.shares.map((s, j) => (j === deltas.outcome ? s + deltas.shares : s)),
    probability: headlineProbability(market.type, result.pricesAfter),
    escrow: market.escrow + deltas.escrow,
    volumeDelta: deltas.volume,
  };
}

/** A trade's event, from the line and the book after it (its time is the line's: record_trade sets it). */
type Announce = (trade: Pick<Execution, 'trade' | 'market'>) => NewEvent;

interface PlannedWrite {
  userId: string;
  answerIndex: number;
  side: TradeSide;
  planned: PlannedTrade;
  balanceDelta: number;
  positionDelta: { shares: number; costBasis: number; netSpent: number };
  /** The line's time; else the clock when the statement writes it. */
  at?: Date | undefined;
  announce?: Announce | undefined;
}

/**
 * Writes a trade the kernel planned on `market`, in one statement (ledger.recordTrade): the
 * ledger line, the book, the balance and the position, moved by the deltas given (a limit order's
 * fill moves what its reservation does not hold), and `announce`'s event. Under the market's lock
 * (no `guard`) the book after it is the row with the kernel's deltas, known before the statement
 * runs; with `guard` the statement checks that the row is still `market` and refuses otherwise.
 */
async function writePlanned(
  ledger: Pick<LedgerRepository, 'recordTrade'>,
  executor: Kysely<DB>,
  market: MarketRow,
  { userId, answerIndex, side, planned, balanceDelta, positionDelta, at, announce }: PlannedWrite,
  guard?: { expectedVersion: number; lockTimeoutMs: number },
): Promise<Execution | { refused: string }> {
  const { result } = planned;
  const outcome = outcomeOf(market, answerIndex);
  const line = {
    id: randomUUID(),
    marketId: market.id,
    userId,
    outcome,
    answerIndex,
    side,
    amount: result.cents,
    shares: result.shares,
    probabilityBefore: result.probabilityBefore,
    probabilityAfter: result.probabilityAfter,
    answerPrices: result.pricesAfter,
  };
  const book = bookAfter(market, planned);
  const after: MarketRow = {
    ...market,
    shares: book.shares,
    probability: book.probability,
    escrow: book.escrow,
    volume: market.volume + book.volumeDelta,
    version: market.version + 1,
  };
  const written = await ledger.recordTrade(
    executor,
    { ...line, createdAt: at ?? null },
    book,
    balanceDelta,
    positionDelta,
    // The statement stamps the payload's trade.createdAt with the line's time.
    announce?.({ trade: { ...line, createdAt: at ?? new Date(0) }, market: after }),
    guard,
  );
  if ('refused' in written) return written;
  return {
    trade: { ...line, createdAt: written.tradeCreatedAt },
    market: { ...after, updatedAt: written.marketUpdatedAt },
    balance: written.balance,
    restingOrders: written.restingOrders,
    position: {
      marketId: market.id,
      userId,
      outcome,
      answerIndex,
      shares: written.positionShares,
      costBasis: written.positionCostBasis,
      netSpent: written.positionNetSpent,
      payout: written.positionPayout,
      updatedAt: written.positionUpdatedAt,
    },
  };
}

/** writePlanned in the caller's transaction, which holds the market's and the trader's locks. */
export async function recordPlanned(
  ledger: Pick<LedgerRepository, 'recordTrade'>,
  trx: Trx,
  market: MarketRow,
  write: PlannedWrite,
): Promise<Execution> {
  const execution = await writePlanned(ledger, trx, market, write);
  if ('refused' in execution) throw new Error(`recordTrade refused a locked trade (${execution.refused})`);
  return execution;
}

/**
 * A buy as one autocommitted statement, with no transaction around it: one round trip, and the
 * market's lock held only while PostgreSQL runs it. It is planned on `known`, the market row as
 * this instance last read or wrote it, and the statement writes it only if the row is still that
 * version (and open, and has no resting limit order, which a trade may cross) and the trader can
 * pay. The trader's balance is the statement's to check, so the kernel plans without it. Answers
 * undefined when nothing was written, the kernel's refusals on `known` included: the caller then
 * trades under locks, where the rows are read afresh and every refusal gets its own answer.
 */
export async function buyOnKnownBook(
  ledger: Pick<LedgerRepository, 'recordTrade'>,
  db: Kysely<DB>,
  known: MarketRow,
  userId: string,
  order: Order,
  { lockTimeoutMs, announce }: { lockTimeoutMs: number; announce: Announce },
): Promise<Execution | undefined> {
  if (order.side !== 'buy') return undefined;
  let planned: PlannedTrade;
  try {
    assertTradable(known);
    planned = executeInBook(bookOf(known), { balance: Number.MAX_SAFE_INTEGER }, kernelOrder(order));
  } catch {
    return undefined;
  }
  const execution = await writePlanned(
    ledger,
    db,
    known,
    {
      userId,
      answerIndex: order.answerIndex,
      side: 'buy',
      planned,
      balanceDelta: -planned.deltas.escrow,
      positionDelta: planned.deltas.position,
      announce,
    },
    { expectedVersion: known.version, lockTimeoutMs },
  );
  return 'refused' in execution ? undefined : execution;
}

/**
 * One trade against the LMSR market maker, inside the caller's transaction, with the market and
 * the user's row already locked by it. The kernel prices it (and refuses it, slippage included,
 * before anything is written); recordPlanned writes it, with `announce`'s event, at `at`.
 */
export async function executeTrade(
  ledger: Pick<LedgerRepository, 'findPosition' | 'recordTrade'>,
  trx: Trx,
  market: MarketRow,
  user: { id: string; balance: number },
  order: Order,
  { at, announce }: { at: Date; announce?: Announce },
): Promise<Execution> {
  const position =
    order.side === 'sell' ? await ledger.findPosition(trx, market.id, user.id, order.answerIndex) : undefined;
  const planned = executeInBook(bookOf(market), { balance: user.balance, position }, kernelOrder(order));
  return recordPlanned(ledger, trx, market, {
    userId: user.id,
    answerIndex: order.answerIndex,
    side: order.side,
    planned,
    balanceDelta: -planned.deltas.escrow,
    positionDelta: planned.deltas.position,
    at,
    announce,
  });
}
