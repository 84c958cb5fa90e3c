import type { Kysely } from 'kysely';
import type { DB, MarketRow, Outcome } from '../../db/schema.ts';
import { inTransaction, type Trx } from '../../db/transaction.ts';
import { deadlineIn } from '../../lib/deadline.ts';
import { ApiError } from '../../lib/errors.ts';
import type { AuthUser } from '../auth/permissions.ts';
import type { EventRepository } from '../events/events.repository.ts';
import { announceCloses, closeIsDue } from '../markets/close-announcer.ts';
import { effectiveStatus, toMarketDto } from '../markets/market-dto.ts';
import type { MarketRepository } from '../markets/markets.repository.ts';
import { payoutCents } from './money.ts';
import type { TradingRepository } from './trading.repository.ts';

export type SettlementService = ReturnType<typeof createSettlementService>;

interface Deps {
  db: Kysely<DB>;
  trading: TradingRepository;
  markets: Pick<MarketRepository, 'findForUpdate' | 'markCloseAnnounced'>;
  /** WRITE_DEADLINE_MS: a settlement not done by then answers 503 and never commits. */
  deadlineMs: number;
  events: Pick<EventRepository, 'append'>;
  onMarketChanged?: (marketId: string) => Promise<void>;
}

/**
 * Resolution and cancellation: every payout of a market in one transaction, or none. Locks in the
 * order of every money path (trading.repository.ts): the market, then its traders in id order.
 */
export function createSettlementService({ db, trading, markets, deadlineMs, events, onMarketChanged }: Deps) {
  async function settle(
    marketIdOrSlug: string,
    authorize: (market: MarketRow) => void,
    distribute: (trx: Trx, market: MarketRow, credits: Map<string, number>) => Promise<void>,
    result: { status: 'resolved' | 'cancelled'; outcome: Outcome | null },
    receivedAt: number | undefined,
  ) {
    const settled = await inTransaction(
      db,
      async (trx) => {
        // The market lock makes a second, concurrent settlement wait and then see it settled.
        const market = await markets.findForUpdate(trx, marketIdOrSlug);
        if (!market) throw ApiError.notFound('Market');
        authorize(market);
        if (market.status === 'resolved' || market.status === 'cancelled') {
          throw ApiError.conflict(`Market is already ${market.status}`, 'MARKET_SETTLED');
        }
        const credits = new Map<string, number>();
        await distribute(trx, market, credits);
        const paid = [...credits.values()].reduce((a, b) => a + b, 0);
        if (paid > market.escrow) {
          // Cannot happen while rounding favours the maker; if it ever does, pay nothing.
          throw new Error(`Escrow ${market.escrow} cannot cover payouts ${paid} for market ${market.id}`);
        }
        credits.set(market.creatorId, (credits.get(market.creatorId) ?? 0) + (market.escrow - paid));
        await trading.lockUsers(trx, [...credits.keys()]);
        await trading.creditMany(trx, credits);
        if (result.outcome) await trading.setPayouts(trx, market.id, result.outcome);
        const settled = await trading.settleMarket(trx, market.id, result);
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
    resolve(user: AuthUser, marketIdOrSlug: string, outcome: Outcome, receivedAt?: number) {
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
        async (trx, market, credits) => {
          for (const p of await trading.marketPositions(trx, market.id)) {
            if (p.outcome === outcome && p.shares > 0) {
              credits.set(p.userId, (credits.get(p.userId) ?? 0) + payoutCents(p.shares));
            }
          }
        },
        { status: 'resolved', outcome },
        receivedAt,
      );
    },

    /**
     * Refunds each trader's net spend (what they paid minus what they received). Traders who
     * sold at a profit keep it; that money comes out of the creator's subsidy, who receives the
     * rest of the escrow. Should refunds ever exceed escrow, they are paid pro rata.
     */
    cancel(user: AuthUser, marketIdOrSlug: string, receivedAt?: number) {
      return settle(
        marketIdOrSlug,
        () => {
          if (user.role !== 'admin' && user.role !== 'moderator') {
            throw ApiError.forbidden('Only a moderator or an admin may cancel a market');
          }
        },
        async (trx, market, credits) => {
          const net = new Map<string, number>();
          for (const p of await trading.marketPositions(trx, market.id)) {
            net.set(p.userId, (net.get(p.userId) ?? 0) + p.netSpent);
          }
          const owed = [...net].filter(([, cents]) => cents > 0);
          const total = owed.reduce((sum, [, cents]) => sum + cents, 0);
          for (const [userId, cents] of owed) {
            const refund =
              total <= market.escrow
                ? cents
                : Number((BigInt(cents) * BigInt(market.escrow)) / BigInt(total));
            credits.set(userId, refund);
          }
        },
        { status: 'cancelled', outcome: null },
        receivedAt,
      );
    },
  };
}
