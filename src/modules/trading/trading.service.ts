import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB, MarketRow, Outcome, TradeSide } from '../../db/schema.ts';
import { inTransaction, type Trx } from '../../db/transaction.ts';
import { deadlineIn, startBy } from '../../lib/deadline.ts';
import { ApiError } from '../../lib/errors.ts';
import { createKeyedMutex } from '../../lib/keyed-mutex.ts';
import { UUID_PATTERN } from '../../lib/slug.ts';
import type { AuthUser } from '../auth/permissions.ts';
import type { EventRepository } from '../events/events.repository.ts';
import { effectiveStatus } from '../markets/market-dto.ts';
import type { MarketRepository } from '../markets/markets.repository.ts';
import { idempotencyRepository } from './idempotency.repository.ts';
import { subsidy } from './lmsr.ts';
import { CENTS_PER_UNIT, ceilCents, toShares, toUnits } from './money.ts';
import { executeTrade, planTrade, type TradePlan } from './trade-execution.ts';
import { marketBookDto, positionDto, tradeDto } from './trading.dto.ts';
import type { TradingRepository } from './trading.repository.ts';

export interface TradeInput {
  outcome: Outcome;
  side: TradeSide;
  /** buy: cents to spend; sell: micro-shares to sell (the routes convert from units). */
  quantity: number;
  maxProbability?: number | undefined;
  minProbability?: number | undefined;
}

export type TradeResult = ReturnType<typeof toResult>;

const toResult = (e: Awaited<ReturnType<typeof executeTrade>>) => ({
  trade: tradeDto(e.trade),
  position: positionDto(e.position),
  market: marketBookDto(e.market),
  balance: e.balance / CENTS_PER_UNIT,
});

export type QuoteResult = ReturnType<typeof toQuote>;

/** A plan in the trade's units: `amount`, `shares` and the probabilities are what the trade would record. */
const toQuote = (input: TradeInput, plan: TradePlan, balance: number) => ({
  outcome: input.outcome,
  side: input.side,
  amount: toUnits(plan.cents),
  shares: toShares(plan.shares),
  averagePrice: toUnits(plan.cents) / toShares(plan.shares),
  probabilityBefore: plan.probabilityBefore,
  probabilityAfter: plan.probabilityAfter,
  marketProbability: plan.marketProbability,
  balanceAfter: toUnits(balance - plan.moneyIn),
  guard: plan.slippage
    ? { passes: false as const, code: 'SLIPPAGE' as const, message: plan.slippage }
    : { passes: true as const, code: null, message: null },
});

export type TradingService = ReturnType<typeof createTradingService>;

interface Deps {
  db: Kysely<DB>;
  trading: TradingRepository;
  markets: Pick<MarketRepository, 'findForUpdate' | 'findBySlug' | 'findById'>;
  /** WRITE_DEADLINE_MS: a trade not done by then (queue wait included) answers 503 and never commits. */
  deadlineMs: number;
  events: Pick<EventRepository, 'append'>;
  /** Called after a commit that changed a market (cache invalidation). */
  onMarketChanged?: (marketId: string) => Promise<void>;
}

export function createTradingService({ db, trading, markets, deadlineMs, events, onMarketChanged }: Deps) {
  const perMarket = createKeyedMutex();

  /** The queue key: a market's id in one spelling, so its slug and its id in any case queue together. */
  async function queueKey(marketIdOrSlug: string): Promise<string> {
    if (UUID_PATTERN.test(marketIdOrSlug)) return marketIdOrSlug.toLowerCase();
    const market = await markets.findBySlug(marketIdOrSlug);
    if (!market) throw ApiError.notFound('Market');
    return market.id;
  }

  function assertTradable(market: MarketRow) {
    const status = effectiveStatus(market.status, market.closesAt);
    if (status !== 'active')
      throw ApiError.conflict(`Market is ${status}; it takes no trades`, 'MARKET_NOT_TRADABLE');
  }

  /** In the lock order of every money path (trading.repository.ts): market, user, then the key. */
  async function tradeOnce(
    trx: Trx,
    user: AuthUser,
    marketId: string,
    input: TradeInput,
    idempotencyKey: string | undefined,
    requestHash: string,
  ): Promise<{ body: TradeResult; replayed: boolean }> {
    const market = await markets.findForUpdate(trx, marketId);
    if (!market) throw ApiError.notFound('Market');
    const account = await trading.lockUser(trx, user.id);
    if (!account) throw ApiError.unauthorized('The user of this token no longer exists');
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
    const body = toResult(await executeTrade(trading, trx, market, account, input));
    if (idempotencyKey) await idempotencyRepository.complete(trx, user.id, idempotencyKey, 201, body);
    // Public: the trade and the book after it; the trader's position and balance stay theirs.
    await events.append(trx, {
      type: 'trade.created',
      marketId: body.market.id,
      payload: { trade: body.trade, market: body.market },
    });
    return { body, replayed: false };
  }

  /** Unlocked reads inside one transaction (so past the cache): the book, balance and position now. */
  async function quoteOnce(trx: Trx, user: AuthUser, marketId: string, input: TradeInput) {
    const market = await markets.findById(marketId, trx);
    if (!market) throw ApiError.notFound('Market');
    const account = await trading.findUser(trx, user.id);
    if (!account) throw ApiError.unauthorized('The user of this token no longer exists');
    assertTradable(market);
    const position =
      input.side === 'sell' ? await trading.findPosition(trx, market.id, user.id, input.outcome) : undefined;
    return toQuote(input, planTrade(market, { balance: account.balance, position }, input), account.balance);
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
          return inTransaction(db, work, { deadline });
        }),
      );
      if (!outcome.replayed) await onMarketChanged?.(outcome.body.market.id);
      return outcome;
    },

    /**
     * Inside the creation transaction: the creator funds the maker's worst case b·ln 2 into the
     * market's escrow and, optionally, opens a position, all or nothing.
     */
    async fund(
      trx: Trx,
      market: MarketRow,
      creatorId: string,
      initialPosition?: { outcome: Outcome; amount: number },
    ): Promise<MarketRow> {
      const creator = await trading.lockUser(trx, creatorId);
      if (!creator) throw ApiError.unauthorized('The user of this token no longer exists');
      const subsidyCents = ceilCents(subsidy(market.liquidity / CENTS_PER_UNIT));
      const needed = subsidyCents + (initialPosition?.amount ?? 0);
      if (creator.balance < needed) {
        throw ApiError.unprocessable(
          `Insufficient balance: the market needs ${needed / CENTS_PER_UNIT} (subsidy ${subsidyCents / CENTS_PER_UNIT}` +
            `${initialPosition ? ` + initial position ${initialPosition.amount / CENTS_PER_UNIT}` : ''}), you have ${creator.balance / CENTS_PER_UNIT}`,
          'INSUFFICIENT_BALANCE',
        );
      }
      const balance = await trading.addToBalance(trx, creatorId, -subsidyCents);
      let funded = await trx
        .updateTable('markets')
        .set({ subsidy: subsidyCents, escrow: subsidyCents })
        .where('id', '=', market.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      if (initialPosition) {
        const order = {
          outcome: initialPosition.outcome,
          side: 'buy' as const,
          quantity: initialPosition.amount,
        };
        funded = (await executeTrade(trading, trx, funded, { id: creatorId, balance }, order)).market;
      }
      return funded;
    },

    isTraded: (marketId: string) => trading.hasTrades(marketId),

    /** Inside the deletion transaction: a market with trades stays; otherwise the subsidy goes home. */
    async release(trx: Trx, market: MarketRow): Promise<void> {
      if (await trading.hasTrades(market.id, trx)) {
        throw ApiError.conflict(
          'A market with trades cannot be deleted; cancel it instead',
          'MARKET_HAS_TRADES',
        );
      }
      if (market.escrow > 0) await trading.addToBalance(trx, market.creatorId, market.escrow);
    },
  };
}
