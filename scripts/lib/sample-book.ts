import type { Outcome } from '../../src/db/schema.ts';
import { cost, subsidy } from '../../src/domain/binary-lmsr.ts';
import { CENTS_PER_UNIT, ceilCents, payoutCents } from '../../src/domain/money.ts';
import { quoteBuy } from '../../src/modules/trading/trade-execution.ts';
import type { SampleMarket } from './sample-markets.ts';

/** LMSR b of every sample market, in cents (the schema's default, 100 units). */
export const SAMPLE_LIQUIDITY = 10_000;

export interface SampleTrade {
  /** Index into the sample users. */
  user: number;
  outcome: Outcome;
  /** Cents paid. */
  amount: number;
  /** Micro-shares bought. */
  shares: number;
  probabilityBefore: number;
  probabilityAfter: number;
  at: Date;
  /** Cents its position received at resolution (each trade is its own position). */
  payout: number;
}

export interface SampleBook {
  liquidity: number;
  subsidy: number;
  yesShares: number;
  noShares: number;
  /** YES probability the book prices at. */
  probability: number;
  /** Cents traded: the sum of the trades. */
  volume: number;
  /** Cents the market holds once settled (0 for resolved and cancelled markets). */
  escrow: number;
  trades: SampleTrade[];
  /** Cents each user paid in: the creator's subsidy and the traders' buys. */
  spent: Map<number, number>;
  /** Cents settlement paid out: winnings and what escrow returned to the creator, or refunds. */
  credits: Map<number, number>;
}

const add = (map: Map<number, number>, user: number, cents: number) =>
  map.set(user, (map.get(user) ?? 0) + cents);

/**
 * The money side of a sample market, as if it had been created, traded and settled through the
 * API: the creator funds b·ln 2, two sample users buy (priced by the same quoteBuy the trade path
 * uses) so the book prices at the sampled probability and the trades add up to about the sampled
 * volume, then a resolved market pays its winners and a cancelled one refunds. A market sampled
 * without volume has no trades and sits at 0.5; one whose sampled volume cannot move the price to
 * its probability trades what it takes.
 */
export function sampleBook(market: SampleMarket, users: number, now: Date): SampleBook {
  const b = SAMPLE_LIQUIDITY / CENTS_PER_UNIT;
  const subsidyCents = ceilCents(subsidy(b));
  const book = { yesShares: 0, noShares: 0, liquidity: SAMPLE_LIQUIDITY };
  const sharesOf = () => ({ shares: [book.yesShares, book.noShares], liquidity: book.liquidity });
  const spent = new Map<number, number>([[market.creator, subsidyCents]]);
  const credits = new Map<number, number>();
  const trades: SampleTrade[] = [];
  let probability = 0.5;
  const lead: Outcome = market.probability >= 0.5 ? 'YES' : 'NO';
  const other: Outcome = lead === 'YES' ? 'NO' : 'YES';
  const p = Math.max(market.probability, 1 - market.probability);
  // Lead shares over the other's that price the lead outcome at p, and what buying them costs.
  const lean = b * Math.log(p / (1 - p));
  const zero = cost({ yes: 0, no: 0, b });
  const leanCents = ceilCents(cost({ yes: lean, no: 0, b }) - zero);
  const start = market.createdAt.getTime();
  const end = Math.min(market.closesAt.getTime(), now.getTime());

  const buy = (user: number, outcome: Outcome, cents: number, at: number) => {
    const quote = quoteBuy(sharesOf(), outcome, cents);
    if (quote.shares <= 0) return;
    probability = quote.probability;
    if (outcome === 'YES') book.yesShares += quote.shares;
    else book.noShares += quote.shares;
    trades.push({
      user,
      outcome,
      amount: cents,
      shares: quote.shares,
      probabilityBefore: quote.before,
      probabilityAfter: quote.after,
      at: new Date(start + (end - start) * at),
      payout: 0,
    });
    add(spent, user, cents);
  };

  if (market.volume > 0 && leanCents > 0) {
    const [first, second] = [(market.creator + 1) % users, (market.creator + 2) % users];
    // Beyond the lean, volume buys both sides equally: n more of each outcome costs n.
    const common = market.volume / CENTS_PER_UNIT - (cost({ yes: lean, no: 0, b }) - zero);
    const leadCents = common > 0 ? ceilCents(cost({ yes: lean + common, no: 0, b }) - zero) : leanCents;
    const otherCents = market.volume - leadCents;
    buy(first, lead, leadCents, 1 / 3);
    if (otherCents > 0) buy(second, other, otherCents, 2 / 3);
  }

  const volume = trades.reduce((sum, t) => sum + t.amount, 0);
  let escrow = subsidyCents + volume;
  if (market.status === 'resolved' || market.status === 'cancelled') {
    for (const t of trades) {
      // Resolution pays each winning share; cancellation refunds what each trader spent.
      if (market.status === 'resolved' && t.outcome === market.outcome) t.payout = payoutCents(t.shares);
      const owed = market.status === 'cancelled' ? t.amount : t.payout;
      if (owed > 0) add(credits, t.user, owed);
    }
    const paid = [...credits.values()].reduce((sum, c) => sum + c, 0);
    if (paid > escrow) throw new Error(`sample market ${market.slug}: escrow ${escrow} cannot cover ${paid}`);
    add(credits, market.creator, escrow - paid);
    escrow = 0;
  }
  return {
    liquidity: SAMPLE_LIQUIDITY,
    subsidy: subsidyCents,
    yesShares: book.yesShares,
    noShares: book.noShares,
    probability,
    volume,
    escrow,
    trades,
    spent,
    credits,
  };
}
