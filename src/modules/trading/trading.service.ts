import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import { isRetryableTransactionError, pgErrorCode } from '../../db/errors.ts';
import type { DB, MarketRow, Outcome, TradeSide } from '../../db/schema.ts';
import { inTransaction, type Trx } from '../../db/transaction.ts';
import { type AnswerChoice, answerIndexIn } from '../../domain/answers.ts';
import { MarketHasTrades } from '../../domain/domain-errors.ts';
import { assertTradable } from '../../domain/market-status.ts';
import { assertCanFund, subsidyCents } from '../../domain/settlement.ts';
import { type Deadline, deadlineIn, startBy } from '../../lib/deadline.ts';
import { ApiError } from '../../lib/errors.ts';
import { createKeyedMutex } from '../../lib/keyed-mutex.ts';
import { UUID_PATTERN } from '../../lib/slug.ts';
import type { AuthUser } from '../auth/permissions.ts';
import type { MarketRepository } from '../markets/markets.repository.ts';
import { idempotencyRepository } from './idempotency.repository.ts';
import type { LedgerRepository } from './ledger.repository.ts';
import {
  answerIndexOf,
  buysOnKnownBook,
  type Execution,
  executeTrade,
  MAX_BUYS_PER_STATEMENT,
  type Order,
  planOrder,
} from './trade-execution.ts';
import { type QuoteResult, type TradeResult, toQuote, toResult, tradeEventDto } from './trading.dto.ts';

/** The answer by a binary `outcome` or any market's `answerId` (resolved against the market in the service). */
export type TradeInput = AnswerChoice & {
  side: TradeSide;
  /** buy: cents to spend; sell: micro-shares to sell (the routes convert from units). */
  quantity: number;
  maxProbability?: number | undefined;
  minProbability?: number | undefined;
};

/** The kernel's order for this market: the named answer as its index (400 when it is not the market's). */
const orderFor = (market: MarketRow, { outcome, answerId, ...rest }: TradeInput): Order => ({
  ...rest,
  answerIndex: answerIndexIn(market, { outcome, answerId } as AnswerChoice),
});

export type TradingService = ReturnType<typeof createTradingService>;

type Done = { body: TradeResult; replayed: boolean; after?: MarketRow | undefined };

/** A buy without Idempotency-Key waiting, in its market's group, for the market's turn. */
interface QueuedBuy {
  user: AuthUser;
  input: TradeInput;
  deadline: Deadline;
  /** True once the client has gone. */
  abandoned: () => boolean;
  /** startBy's: throws once the deadline has passed. */
  begin: () => void;
  resolve: (done: Done) => void;
  reject: (error: unknown) => void;
}

const clientLeft = () => new ApiError(499, 'CLIENT_CLOSED_REQUEST', 'The client left before the trade ran');

/** Markets whose row after this instance's last trade on them is remembered (buysOnKnownBook). */
const KNOWN_BOOKS = 10_000;

/** Public: the trade and the book after it; the trader's position and balance stay theirs. */
const tradeCreated = (trade: Parameters<typeof tradeEventDto>[0]) => ({
  type: 'trade.created' as const,
  marketId: trade.market.id,
  payload: tradeEventDto(trade),
});

interface Deps {
  db: Kysely<DB>;
  ledger: LedgerRepository;
  markets: Pick<MarketRepository, 'lockForTrade' | 'findBySlug' | 'findById' | 'fund'>;
  /** WRITE_DEADLINE_MS: a trade not done by then (queue wait included) answers 503 and never commits. */
  deadlineMs: number;
  /** Called after a commit that changed a market (cache invalidation). */
  onMarketChanged?: (marketId: string) => Promise<void>;
  /** Limit orders (orders.service.ts): fills what a trade's price crossed; cancels them before a delete. */
  limitOrders?: {
    matchAfterTrade(trx: Trx, market: MarketRow): Promise<MarketRow>;
    cancelAllOpen(trx: Trx, market: MarketRow): Promise<number>;
  };
}

export function createTradingService({
  db,
  ledger,
  markets,
  deadlineMs,
  onMarketChanged,
  limitOrders,
}: Deps) {
  const perMarket = createKeyedMutex();
  /**
   * Each market's row as this instance's last trade on it left it (none after a trade that filled
   * limit orders). Trades on a market take turns in perMarket, so the next one can be planned on
   * it and written in one statement; the statement's version check catches any change made
   * elsewhere (another instance's trade, an edit, a resolution), and the trade then runs locked.
   */
  const knownBooks = new LRUCache<string, MarketRow>({ max: KNOWN_BOOKS });
  /** Per market, its open group of buys (queueBuy). */
  const openBuys = new Map<string, QueuedBuy[]>();

  /** The queue key: a market's id in one spelling, so its slug and its id in any case queue together. */
  async function queueKey(marketIdOrSlug: string): Promise<string> {
    if (UUID_PATTERN.test(marketIdOrSlug)) return marketIdOrSlug.toLowerCase();
    const market = await markets.findBySlug(marketIdOrSlug);
    if (!market) throw ApiError.notFound('Market');
    return market.id;
  }

  /** In the lock order of every money path (ledger.repository.ts): market, user, then the key. */
  async function tradeOnce(
    trx: Trx,
    user: AuthUser,
    marketId: string,
    input: TradeInput,
    idempotencyKey: string | undefined,
    requestHash: string,
  ): Promise<{ body: TradeResult; replayed: boolean; after?: MarketRow }> {
    const locked = await markets.lockForTrade(trx, marketId, user.id);
    if (!locked) throw ApiError.notFound('Market');
    const { market, traderBalance, lockedAt } = locked;
    if (traderBalance === null) throw ApiError.unauthorized('The user of this token no longer exists');
    const account = { id: user.id, balance: traderBalance };
    if (idempotencyKey) {
      const claim = await idempotencyRepository.claim(trx, user.id, idempotencyKey, requestHash);
      if (claim.kind === 'mismatch') {
        throw ApiError.unprocessable(
          'This Idempotency-Key was used with a different request',
          'IDEMPOTENCY_KEY_REUSED',
        );
      }
      // Before the tradability check: a retry after the market closed still gets its first answer.
      if (claim.kind === 'replay') return { body: claim.response as TradeResult, replayed: true };
    }
    assertTradable(market);
    const order = orderFor(market, input);
    const execution = await executeTrade(ledger, trx, market, account, order, {
      at: lockedAt,
      announce: tradeCreated,
    });
    const body = toResult(execution);
    if (idempotencyKey) await idempotencyRepository.complete(trx, user.id, idempotencyKey, 201, body);
    // Resting limit orders this trade's price crossed fill now, under the same market lock.
    if (execution.restingOrders && limitOrders) {
      await limitOrders.matchAfterTrade(trx, execution.market);
      return { body, replayed: false };
    }
    return { body, replayed: false, after: execution.market };
  }

  /** After a trade: the row it left is the next one's to plan on (none after a trade that filled limit orders). */
  function remember(marketId: string, done: Done) {
    if (done.after) knownBooks.set(marketId, done.after);
    else knownBooks.delete(marketId);
  }

  /**
   * A buy without Idempotency-Key joins its market's open group: the buys that queued since the
   * market's last turn was taken, which the next turn runs together (runBuys). A trade that
   * cannot join closes the group, so trades keep their arrival order from group to group.
   */
  function queueBuy(marketId: string, buy: Omit<QueuedBuy, 'resolve' | 'reject'>): Promise<Done> {
    return new Promise<Done>((resolve, reject) => {
      const queued = { ...buy, resolve, reject };
      const open = openBuys.get(marketId);
      if (open) {
        open.push(queued);
        if (open.length >= MAX_BUYS_PER_STATEMENT) openBuys.delete(marketId);
        return;
      }
      const group = [queued];
      openBuys.set(marketId, group);
      perMarket
        .run(marketId, () => runBuys(marketId, group))
        .catch((error: unknown) => {
          for (const member of group) member.reject(error);
        });
    });
  }

  /**
   * One turn of a market for a group of buys. When this instance knows the market's row they are
   * one statement (buysOnKnownBook); those it did not write, and all of them when the row is not
   * known, then trade one by one under locks, in order, each with its own answer.
   */
  async function runBuys(marketId: string, group: QueuedBuy[]): Promise<void> {
    if (openBuys.get(marketId) === group) openBuys.delete(marketId);
    const ready: QueuedBuy[] = [];
    for (const buy of group) {
      try {
        buy.begin();
        if (buy.abandoned()) throw clientLeft();
        ready.push(buy);
      } catch (error) {
        buy.reject(error);
      }
    }
    let executions: (Execution | undefined)[] = [];
    const known = knownBooks.get(marketId);
    if (known && ready.length > 0) {
      try {
        executions = await buysOnKnownBook(
          ledger,
          known,
          ready.map((buy) => {
            try {
              return { userId: buy.user.id, order: orderFor(known, buy.input) };
            } catch {
              return undefined; // a bad answer choice: refused under locks, with its own answer
            }
          }),
          {
            // The group's earliest: the statement must not outlast any of its buys' deadlines.
            deadline: ready.reduce(
              (first, buy) => (buy.deadline.at < first.at ? buy.deadline : first),
              ready[0]!.deadline,
            ),
            announce: tradeCreated,
          },
        );
      } catch (error) {
        // lock_timeout, or a deadlock PostgreSQL broke by failing this statement (it waits only
        // for the event log's append lock, but a trade under locks that fills limit orders holds
        // that lock while it pays the sellers among their makers, whose rows this statement may
        // hold): nothing was written, and each buy tries under locks (which retry a deadlock and
        // answer 503 at the deadline).
        if (pgErrorCode(error) !== '55P03' && !isRetryableTransactionError(error)) {
          for (const buy of ready) buy.reject(error);
          return;
        }
      }
    }
    for (const [i, buy] of ready.entries()) {
      const execution = executions[i];
      if (!execution) continue;
      const done = { body: toResult(execution), replayed: false, after: execution.market };
      remember(marketId, done);
      buy.resolve(done);
    }
    for (const [i, buy] of ready.entries()) {
      if (executions[i]) continue;
      try {
        const done = await inTransaction(
          db,
          (trx) => tradeOnce(trx, buy.user, marketId, buy.input, undefined, ''),
          {
            deadline: buy.deadline,
            prepared: true,
          },
        );
        remember(marketId, done);
        buy.resolve(done);
      } catch (error) {
        buy.reject(error);
      }
    }
  }

  /** Unlocked reads inside one transaction (so past the cache): the book, balance and position now. */
  async function quoteOnce(trx: Trx, user: AuthUser, marketId: string, input: TradeInput) {
    const market = await markets.findById(marketId, trx);
    if (!market) throw ApiError.notFound('Market');
    const account = await ledger.findUser(trx, user.id);
    if (!account) throw ApiError.unauthorized('The user of this token no longer exists');
    assertTradable(market);
    const order = orderFor(market, input);
    const position =
      order.side === 'sell'
        ? await ledger.findPosition(trx, market.id, user.id, order.answerIndex)
        : undefined;
    return toQuote(
      market,
      order,
      planOrder(market, { balance: account.balance, position }, order),
      account.balance,
    );
  }

  return {
    /**
     * What `trade` would do now, priced by the same planTrade, with the same 404/409/422 refusals;
     * the slippage guard's verdict is reported instead of thrown. Writes nothing and takes no lock.
     */
    async quote(
      user: AuthUser,
      marketIdOrSlug: string,
      input: TradeInput,
      { receivedAt }: { receivedAt?: number } = {},
    ): Promise<QuoteResult> {
      const marketId = await queueKey(marketIdOrSlug);
      return inTransaction(db, (trx) => quoteOnce(trx, user, marketId, input), {
        deadline: deadlineIn(deadlineMs, receivedAt),
        prepared: true,
      });
    },

    /** Resolves when no trade is queued or running. */
    idle: () => perMarket.idle(),

    /** A trade, once per Idempotency-Key: a retry with the same key and body replays the first answer. */
    async trade(
      user: AuthUser,
      marketIdOrSlug: string,
      input: TradeInput,
      {
        idempotencyKey,
        abandoned = () => false,
        receivedAt,
      }: {
        idempotencyKey?: string | undefined;
        /** True once the client has gone: a queued trade nobody waits for is not started. */
        abandoned?: () => boolean;
        /** When the request arrived: the deadline counts from then (default: now). */
        receivedAt?: number;
      } = {},
    ): Promise<{ body: TradeResult; replayed: boolean }> {
      const deadline = deadlineIn(deadlineMs, receivedAt);
      const requestHash = createHash('sha256')
        .update(JSON.stringify([marketIdOrSlug, input]))
        .digest('hex');
      const marketId = await queueKey(marketIdOrSlug);
      const work = (trx: Trx) => tradeOnce(trx, user, marketId, input, idempotencyKey, requestHash);
      // The queue wait counts against the deadline: a trade still queued at it answers 503 then, and
      // its turn, when it comes, is skipped.
      const outcome = await startBy(deadline, (begin) => {
        if (!idempotencyKey && input.side === 'buy')
          return queueBuy(marketId, { user, input, deadline, abandoned, begin });
        openBuys.delete(marketId);
        return perMarket.run(marketId, async () => {
          begin();
          if (abandoned()) throw clientLeft();
          const done = await inTransaction(db, work, { deadline, prepared: true });
          remember(marketId, done);
          return done;
        });
      });
      if (!outcome.replayed) await onMarketChanged?.(outcome.body.market.id);
      return { body: outcome.body, replayed: outcome.replayed };
    },

    /**
     * Inside the creation transaction: the creator funds the maker's worst case b·ln N into the
     * market's escrow and, optionally, opens a position, all or nothing.
     */
    async fund(
      trx: Trx,
      market: MarketRow,
      creatorId: string,
      initialPosition?: { outcome: Outcome; amount: number },
    ): Promise<MarketRow> {
      const creator = await ledger.lockUser(trx, creatorId);
      if (!creator) throw ApiError.unauthorized('The user of this token no longer exists');
      const subsidy = subsidyCents(market.liquidity, market.answers.length);
      assertCanFund(subsidy, initialPosition?.amount, creator.balance);
      const balance = await ledger.addToBalance(trx, creatorId, -subsidy);
      let funded = await markets.fund(trx, market.id, subsidy);
      if (initialPosition) {
        const order = {
          answerIndex: answerIndexOf(initialPosition.outcome),
          side: 'buy' as const,
          quantity: initialPosition.amount,
        };
        funded = (
          await executeTrade(ledger, trx, funded, { id: creatorId, balance }, order, { at: funded.createdAt })
        ).market;
      }
      return funded;
    },

    isTraded: (marketId: string) => ledger.hasTrades(marketId),

    /** Inside the deletion transaction: a market with trades stays; otherwise the subsidy goes home. */
    async release(trx: Trx, market: MarketRow): Promise<void> {
      if (await ledger.hasTrades(market.id, trx))
        throw new MarketHasTrades('A market with trades cannot be deleted; cancel it instead');
      await limitOrders?.cancelAllOpen(trx, market);
      if (market.escrow > 0) await ledger.addToBalance(trx, market.creatorId, market.escrow);
    },
  };
}
