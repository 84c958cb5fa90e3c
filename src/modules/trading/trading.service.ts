import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB, MarketRow, Outcome, TradeSide } from '../../db/schema.ts';
import { inTransaction, type Trx } from '../../db/transaction.ts';
import { type AnswerChoice, answerIndexIn } from '../../domain/answers.ts';
import { MarketHasTrades } from '../../domain/domain-errors.ts';
import { assertTradable } from '../../domain/market-status.ts';
import { assertCanFund, subsidyCents } from '../../domain/settlement.ts';
import { deadlineIn, startBy } from '../../lib/deadline.ts';
import { ApiError } from '../../lib/errors.ts';
import { createKeyedMutex } from '../../lib/keyed-mutex.ts';
import { UUID_PATTERN } from '../../lib/slug.ts';
import type { AuthUser } from '../auth/permissions.ts';
import type { EventRepository } from '../events/events.repository.ts';
import type { MarketRepository } from '../markets/markets.repository.ts';
import { idempotencyRepository } from './idempotency.repository.ts';
import type { LedgerRepository } from './ledger.repository.ts';
import { answerIndexOf, executeTrade, type Order, planOrder } from './trade-execution.ts';
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

interface Deps {
  db: Kysely<DB>;
  ledger: LedgerRepository;
  markets: Pick<MarketRepository, 'lockForTrade' | 'findBySlug' | 'findById' | 'fund'>;
  /** WRITE_DEADLINE_MS: a trade not done by then (queue wait included) answers 503 and never commits. */
  deadlineMs: number;
  events: Pick<EventRepository, 'appendStatement'>;
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
  events,
  onMarketChanged,
  limitOrders,
}: Deps) {
  const perMarket = createKeyedMutex();

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
  ): Promise<{ body: TradeResult; replayed: boolean }> {
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
      // Public: the trade and the book after it; the trader's position and balance stay theirs.
      announce: (trade) =>
        events.appendStatement({ type: 'trade.created', marketId: market.id, payload: tradeEventDto(trade) }),
    });
    const body = toResult(execution);
    if (idempotencyKey) await idempotencyRepository.complete(trx, user.id, idempotencyKey, 201, body);
    // Resting limit orders this trade's price crossed fill now, under the same market lock.
    if (execution.restingOrders) await limitOrders?.matchAfterTrade(trx, execution.market);
    return { body, replayed: false };
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
        perMarket.run(marketId, () => {
          begin();
          if (abandoned())
            throw new ApiError(499, 'CLIENT_CLOSED_REQUEST', 'The client left before the trade ran');
          return inTransaction(db, work, { deadline, prepared: true });
        }),
      );
      if (!outcome.replayed) await onMarketChanged?.(outcome.body.market.id);
      return outcome;
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
