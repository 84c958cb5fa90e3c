import { InsufficientBalance } from './domain-errors.ts';
import { subsidy } from './lmsr.ts';
import { CENTS_PER_UNIT, type Cents, ceilCents, type Micros, payoutCents } from './money.ts';

/**
 * The money at the two ends of a market's life: what its creator puts in, and who gets the escrow
 * when it settles. Pure: the settlement service locks, reads and writes around these.
 */

/** Cents the creator funds: the maker's worst case b·ln N, rounded up (the maker's favour). */
export function subsidyCents(liquidity: Cents, outcomes: number): Cents {
  return ceilCents(subsidy(liquidity / CENTS_PER_UNIT, outcomes));
}

/** Refuses a market its creator cannot fund: subsidy plus the optional initial position. */
export function assertCanFund(subsidy: Cents, initialPosition: Cents | undefined, balance: Cents): void {
  if (balance < subsidy + (initialPosition ?? 0))
    throw InsufficientBalance.forFunding(subsidy, initialPosition, balance);
}

/** Cents owed to each user; the creator's line includes what escrow has left. */
export type Credits = Map<string, Cents>;

const add = (credits: Credits, userId: string, cents: Cents) =>
  credits.set(userId, (credits.get(userId) ?? 0) + cents);

/** Gives the creator what the payouts leave of escrow; payouts above escrow are a broken invariant. */
function withRemainder(credits: Credits, escrow: Cents, creatorId: string, marketId: string): Credits {
  const paid = [...credits.values()].reduce((a, b) => a + b, 0);
  if (paid > escrow) {
    // Cannot happen while rounding favours the maker; if it ever does, pay nothing.
    throw new Error(`Escrow ${escrow} cannot cover payouts ${paid} for market ${marketId}`);
  }
  return add(credits, creatorId, escrow - paid);
}

interface Market {
  id: string;
  creatorId: string;
  escrow: Cents;
}

/** Resolution: each winning share pays 1 unit (whole cents per position); the rest returns to the creator. */
export function resolutionCredits<O>(
  market: Market,
  positions: readonly { userId: string; outcome: O; shares: Micros }[],
  winner: O,
): Credits {
  const credits: Credits = new Map();
  for (const p of positions)
    if (p.outcome === winner && p.shares > 0) add(credits, p.userId, payoutCents(p.shares));
  return withRemainder(credits, market.escrow, market.creatorId, market.id);
}

/**
 * Cancellation refunds each trader's net spend (what they paid minus what they received). Traders
 * who sold at a profit keep it; that money comes out of the creator's subsidy, who receives the
 * rest of the escrow. Should refunds ever exceed escrow, they are paid pro rata.
 */
export function cancellationCredits(
  market: Market,
  positions: readonly { userId: string; netSpent: Cents }[],
): Credits {
  const net = new Map<string, Cents>();
  for (const p of positions) add(net, p.userId, p.netSpent);
  const owed = [...net].filter(([, cents]) => cents > 0);
  const total = owed.reduce((sum, [, cents]) => sum + cents, 0);
  const credits: Credits = new Map();
  for (const [userId, cents] of owed) {
    credits.set(
      userId,
      total <= market.escrow ? cents : Number((BigInt(cents) * BigInt(market.escrow)) / BigInt(total)),
    );
  }
  return withRemainder(credits, market.escrow, market.creatorId, market.id);
}
