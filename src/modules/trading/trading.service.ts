import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import { pgErrorCode } from '../../db/errors.ts';
import { preparingEvery } from '../../db/prepared-statements.ts';
import type { DB, MarketRow, Outcome, TradeSide } from '../../db/schema.ts';
import { inTransaction, type Trx } from '../../db/transaction.ts';
import { type AnswerChoice, answerIndexIn } from '../../domain/answers.ts';
import { MarketHasTrades } from '../../domain/domain-errors.ts';
import { assertTradable } from '../../domain/market-status.ts';
import { assertCanFund, subsidyCents } from '../../domain/settlement.ts';
import { type Deadline, deadlineExceeded, deadlineIn, startBy } from '../../lib/deadline.ts';
import { ApiError } from '../../lib/errors.ts';
import { createKeyedMutex } from '../../lib/keyed-mutex.ts';
import { UUID_PATTERN } from '../../lib/slug.ts';
import type { AuthUser } from '../auth/permissions.ts';
import type { MarketRepository } from '../markets/markets.repository.ts';
import { idempotencyRepository } from './idempotency.repository.ts';
import type { LedgerRepository } from './ledger.repository.ts';
import { answerIndexOf, buyOnKnownBook, executeTrade, type Order, planOrder } from './trade-execution.ts';
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

/** Markets whose row after this instance's last trade on them is remembered (buyOnKnownBook). */
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

  /**
   * A buy without Idempotency-Key in one statement, planned on the market's known row
   * (buyOnKnownBook); undefined when it wrote nothing and the trade must run locked.
   */
  async function buyOnce(
    user: AuthUser,
    marketId: string,
    input: TradeInput,
    deadline: Deadline,
  ): Promise<{ body: TradeResult; after: MarketRow } | undefined> {
    const known = knownBooks.get(marketId);
    if (!known) return undefined;
    let order: Order;
    try {
      order = orderFor(known, input);
    } catch {
      return undefined;
    }
    const execution = await startBy(deadline, (begin) =>
      db.connection().execute((connection) => {
        begin();
        return preparingEvery(() =>
          buyOnKnownBook(ledger, connection, known, user.id, order, {
            lockTimeoutMs: deadline.remainingMs(),
            announce: tradeCreated,
          }),
        );
      }),
    ).catch((error: unknown) => {
      // lock_timeout, set from the deadline: the market's lock was not ours in time; nothing was written.
      if (pgErrorCode(error) === '55P03') throw deadlineExceeded();
      throw error;
    });
    if (!execution) return undefined;
    return { body: toResult(execution), after: execution.market };
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
      const outcome = await startBy(deadline, (begin) =>
        perMarket.run(marketId, async () => {
          begin();
          if (abandoned())
            throw new ApiError(499, 'CLIENT_CLOSED_REQUEST', 'The client left before the trade ran');
          const bought = idempotencyKey ? undefined : await buyOnce(user, marketId, input, deadline);
          const done = bought
            ? { ...bought, replayed: false }
            : await inTransaction(db, work, { deadline, prepared: true });
          if (done.after) knownBooks.set(marketId, done.after);
          else knownBooks.delete(marketId);
          return done;
        }),
      );
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
