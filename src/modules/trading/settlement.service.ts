import type { Kysely } from 'kysely';
import type { DB, MarketRow } from '../../db/schema.ts';
import { inTransaction, type Trx } from '../../db/transaction.ts';
import { type AnswerChoice, answerIndexIn } from '../../domain/answers.ts';
import { MarketSettled } from '../../domain/domain-errors.ts';
import { effectiveStatus, isSettled } from '../../domain/market-status.ts';
import { type Credits, cancellationCredits, resolutionCredits } from '../../domain/settlement.ts';
import { deadlineIn } from '../../lib/deadline.ts';
import { ApiError } from '../../lib/errors.ts';
import type { AuthUser } from '../auth/permissions.ts';
import type { EventRepository } from '../events/events.repository.ts';
import { announceCloses, closeIsDue } from '../markets/close-announcer.ts';
import { toMarketDto } from '../markets/market-dto.ts';
import type { MarketRepository } from '../markets/markets.repository.ts';
import type { LedgerRepository } from './ledger.repository.ts';
import { outcomeOf } from './trade-execution.ts';

export type SettlementService = ReturnType<typeof createSettlementService>;

interface Deps {
  db: Kysely<DB>;
  ledger: LedgerRepository;
  markets: Pick<MarketRepository, 'findForUpdate' | 'markCloseAnnounced' | 'settle'>;
  /** WRITE_DEADLINE_MS: a settlement not done by then answers 503 and never commits. */
  deadlineMs: number;
  events: Pick<EventRepository, 'append'>;
  onMarketChanged?: (marketId: string) => Promise<void>;
  /** Limit orders (orders.service.ts): a market's open orders, cancelled before its payouts. */
  limitOrders?: { cancelAllOpen(trx: Trx, market: MarketRow): Promise<number> };
}

/**
 * Resolution and cancellation: every payout of a market in one transaction, or none. Locks in the
 * order of every money path (ledger.repository.ts): the market, then its traders in id order.
 */
export function createSettlementService({
  db,
  ledger,
  markets,
  deadlineMs,
  events,
  onMarketChanged,
  limitOrders,
}: Deps) {
  async function settle(
    marketIdOrSlug: string,
    authorize: (market: MarketRow) => void,
    /** Who gets the escrow: the kernel's resolution or cancellation credits, from the market's positions. */
    distribute: (trx: Trx, market: MarketRow, winner: number | null) => Promise<Credits>,
    result: { status: 'resolved' | 'cancelled'; answer: AnswerChoice | null },
    receivedAt: number | undefined,
  ) {
    const settled = await inTransaction(
      db,
      async (trx) => {
        // The market lock makes a second, concurrent settlement wait and then see it settled.
        const market = await markets.findForUpdate(trx, marketIdOrSlug);
        if (!market) throw ApiError.notFound('Market');
        authorize(market);
        if (isSettled(market.status)) throw new MarketSettled(market.status);
        // Reservations home first: a resting sell's shares are back in its position before payouts.
        await limitOrders?.cancelAllOpen(trx, market);
        // The winning answer's index (400 when it is not this market's), or none for a cancellation.
        const winner = result.answer ? answerIndexIn(market, result.answer) : null;
        const credits = await distribute(trx, market, winner);
        await ledger.lockUsers(trx, [...credits.keys()]);
        await ledger.creditMany(trx, credits);
        if (winner !== null) await ledger.setPayouts(trx, market.id, winner);
        const settled = await markets.settle(trx, market.id, {
          status: result.status,
          outcome: winner === null ? null : outcomeOf(market, winner),
          answerIndex: winner,
        });
        // Settled after its close time but before the close sweep got to it: the close is told first.
        if (closeIsDue(market)) await announceCloses(trx, [market], { markets, events });
        await events.append(trx, {
          type: result.status === 'resolved' ? 'market.resolved' : 'market.cancelled',
          marketId: settled.id,
          payload: toMarketDto(settled),
        });
        return settled;
      },
      { deadline: deadlineIn(deadlineMs, receivedAt) },
    );
    await onMarketChanged?.(settled.id);
    return toMarketDto(settled);
  }

  return {
    /** Each winning share pays 1 unit; what escrow is left returns to the creator. */
    /** receivedAt (here and in cancel): when the request arrived, the start of its deadline (default: now). */
    resolve(user: AuthUser, marketIdOrSlug: string, answer: AnswerChoice, receivedAt?: number) {
      return settle(
        marketIdOrSlug,
        (market) => {
          if (user.role === 'admin' || user.role === 'moderator') return;
          if (user.id !== market.creatorId)
            throw ApiError.forbidden('Only a moderator, an admin or the creator may resolve');
          if (effectiveStatus(market.status, market.closesAt) === 'active') {
            throw ApiError.forbidden('The creator may resolve only once the market has closed');
          }
        },
        async (trx, market, winner) =>
          resolutionCredits(
            market,
            (await ledger.marketPositions(trx, market.id)).map((p) => ({ ...p, outcome: p.answerIndex })),
            winner!,
          ),
        { status: 'resolved', answer },
        receivedAt,
      );
    },

    /** Refunds each trader's net spend; the rest of escrow returns to the creator (domain/settlement.ts). */
    cancel(user: AuthUser, marketIdOrSlug: string, receivedAt?: number) {
      return settle(
        marketIdOrSlug,
        () => {
          if (user.role !== 'admin' && user.role !== 'moderator') {
            throw ApiError.forbidden('Only a moderator or an admin may cancel a market');
          }
        },
        async (trx, market) => cancellationCredits(market, await ledger.marketPositions(trx, market.id)),
        { status: 'cancelled', answer: null },
        receivedAt,
      );
    },
  };
}
