import { randomUUID } from 'node:crypto';
import type { MarketRow, Outcome, PositionRow, TradeRow, TradeSide } from '../../db/schema.ts';
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
import type { Deadline } from '../../lib/deadline.ts';
import type { NewEvent } from '../events/events.repository.ts';
import type { LedgerRepository, RecordedTrade, TradeWrite } from './ledger.repository.ts';

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
 * A trade the kernel planned on `market`, as the writes of one statement (ledger.repository
 * recordTrade, recordTrades): the ledger line, the book, the balance and the position, moved by
 * the deltas given (a limit order's fill moves what its reservation does not hold), and
 * `announce`'s event; and the market row the write leaves, known before the statement runs.
 */
function tradeWriteOf(
  market: MarketRow,
  { userId, answerIndex, side, planned, balanceDelta, positionDelta, at, announce }: PlannedWrite,
): { write: TradeWrite; after: MarketRow } {
  const { result } = planned;
  const line = {
    id: randomUUID(),
    marketId: market.id,
    userId,
    outcome: outcomeOf(market, answerIndex),
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
  // The statement stamps the event's trade.createdAt with the line's time (the clock's, without `at`).
  const event = announce?.({ trade: { ...line, createdAt: at ?? new Date(0) }, market: after });
  return {
    write: { line: { ...line, createdAt: at ?? null }, book, balanceDelta, positionDelta, event },
    after,
  };
}

/** The trade as written: the kernel's values with what PostgreSQL assigned or summed. */
function executionOf({ line }: TradeWrite, after: MarketRow, recorded: RecordedTrade): Execution {
  return {
    trade: { ...line, createdAt: recorded.tradeCreatedAt },
    market: { ...after, updatedAt: recorded.marketUpdatedAt },
    balance: recorded.balance,
    restingOrders: recorded.restingOrders,
    position: {
      marketId: line.marketId,
      userId: line.userId,
      outcome: line.outcome,
      answerIndex: line.answerIndex,
      shares: recorded.positionShares,
      costBasis: recorded.positionCostBasis,
      netSpent: recorded.positionNetSpent,
      payout: recorded.positionPayout,
      updatedAt: recorded.positionUpdatedAt,
    },
  };
}

/** A planned trade written in the caller's transaction, which holds the market's and the trader's locks. */
export async function recordPlanned(
  ledger: Pick<LedgerRepository, 'recordTrade'>,
  trx: Trx,
  market: MarketRow,
  planned: PlannedWrite,
): Promise<Execution> {
  const { write, after } = tradeWriteOf(market, planned);
  return executionOf(write, after, await ledger.recordTrade(trx, write));
}

/** Buys written together by buysOnKnownBook at most: one statement's work. */
export const MAX_BUYS_PER_STATEMENT = 50;

/**
 * Buys on one market as one autocommitted statement, with no transaction around it: one round
 * trip, and the market's lock held only while PostgreSQL runs it. They are planned one after
 * another on `known`, the market row as this instance last read or wrote it, each on the book the
 * one before leaves, and the statement writes each only if the row is still at the version
 * planned on (and open, and has no resting limit order, which a buy may cross) and its trader can
 * pay (the statement checks the balance, so the kernel plans without it); the first refused stops
 * the rest. Answers, for each buy, its execution, or undefined when nothing was written for it
 * (it was undefined, the kernel refused it on `known`, or the statement did not write it): the
 * caller then trades it under locks, where the rows are read afresh and every refusal gets its
 * own answer.
 */
export async function buysOnKnownBook(
  ledger: Pick<LedgerRepository, 'recordTrades'>,
  known: MarketRow,
  buys: readonly ({ userId: string; order: Order } | undefined)[],
  { deadline, announce }: { deadline: Deadline; announce: Announce },
): Promise<(Execution | undefined)[]> {
  const planned: { index: number; write: TradeWrite & { expectedVersion: number }; after: MarketRow }[] = [];
  let book = known;
  for (const [index, buy] of buys.slice(0, MAX_BUYS_PER_STATEMENT).entries()) {
    if (buy?.order.side !== 'buy') continue;
    const { userId, order } = buy;
    let plan: PlannedTrade;
    try {
      assertTradable(book);
      plan = executeInBook(bookOf(book), { balance: Number.MAX_SAFE_INTEGER }, kernelOrder(order));
    } catch {
      continue;
    }
    const { write, after } = tradeWriteOf(book, {
      userId,
      answerIndex: order.answerIndex,
      side: 'buy',
      planned: plan,
      balanceDelta: -plan.deltas.escrow,
      positionDelta: plan.deltas.position,
      announce,
    });
    planned.push({ index, write: { ...write, expectedVersion: book.version }, after });
    book = after;
  }
  const executions: (Execution | undefined)[] = buys.map(() => undefined);
  if (planned.length === 0) return executions;
  const results = await ledger.recordTrades(
    planned.map((p) => p.write),
    deadline,
  );
  for (const [i, result] of results.entries()) {
    if ('refused' in result) break;
    const { index, write, after } = planned[i]!;
    executions[index] = executionOf(write, after, result);
  }
  return executions;
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
