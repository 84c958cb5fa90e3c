import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { DomainError } from '../src/domain/domain-errors.ts';
import { cost, subsidy } from '../src/domain/lmsr.ts';
import { CENTS_PER_UNIT, MICROS_PER_SHARE, payoutCents } from '../src/domain/money.ts';
import { subsidyCents } from '../src/domain/settlement.ts';
import { applyToBook, type Book, planTrade, type TradeOrder } from '../src/domain/trade.ts';

const names = (n: number) => Array.from({ length: n }, (_, i) => `O${i}`);
const floatCost = (book: Omit<Book, 'outcomes'>) =>
  cost(
    book.shares.map((s) => s / MICROS_PER_SHARE),
    book.liquidity / CENTS_PER_UNIT,
  );

/** Liquidity from 1 cent to 1 000 000 units, and a book some trades away from empty. */
const liquidity = fc.integer({ min: 1, max: 100_000_000 });
const bookArb = fc.integer({ min: 2, max: 6 }).chain((n) =>
  fc.record({
    outcomes: fc.constant(names(n)),
    // Small books (where one micro-share more or less shows) and large ones.
    shares: fc.array(fc.oneof(fc.integer({ min: 0, max: 1e9 }), fc.integer({ min: 0, max: 1e13 })), {
      minLength: n,
      maxLength: n,
    }),
    liquidity,
  }),
);
/** An order as the request schema lets through: 1 cent to 1e9 units, 1 micro-share to 1e9 shares. */
const step = fc.record({
  user: fc.nat(3),
  outcome: fc.nat(5),
  side: fc.constantFrom('buy' as const, 'sell' as const),
  // Mostly small amounts, where a cent of rounding shows, and some up to the schema's limit.
  cents: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 100_000_000_000 })),
  fraction: fc.oneof(fc.constantFrom(1 / 3, 1 / 2, 1), fc.double({ min: 0, max: 1, noNaN: true })),
});

type Step = { user: number; outcome: number; side: 'buy' | 'sell'; cents: number; fraction: number };

interface Holding {
  shares: number;
  costBasis: number;
}

/**
 * Runs steps against a fresh market with the kernel and the same bookkeeping the ledger does:
 * a buy spends `cents`, a sell sells `fraction` of what the user holds. Refused orders change
 * nothing, as in the database. Calls `check` after every executed trade.
 */
function simulate(
  n: number,
  b: number,
  steps: Step[],
  check: (state: { book: Book; escrow: number; balances: number[]; positions: Map<string, Holding> }) => void,
) {
  let book: Book = { outcomes: names(n), shares: new Array<number>(n).fill(0), liquidity: b };
  let escrow = subsidyCents(b, n);
  const balances = [1e12, 1e12, 1e12, 1e12];
  const positions = new Map<string, Holding>();
  for (const s of steps) {
    const outcome = s.outcome % n;
    const key = `${s.user}:${outcome}`;
    const held = positions.get(key);
    const order: TradeOrder =
      s.side === 'buy'
        ? { outcome, side: 'buy', quantity: s.cents }
        : { outcome, side: 'sell', quantity: Math.max(1, Math.floor((held?.shares ?? 0) * s.fraction)) };
    let planned: ReturnType<typeof planTrade>;
    try {
      planned = planTrade(book, { balance: balances[s.user]!, position: held }, order);
    } catch (error) {
      if (error instanceof DomainError) continue;
      throw error;
    }
    const { deltas } = planned;
    book = applyToBook(book, deltas);
    escrow += deltas.escrow;
    balances[s.user]! -= deltas.escrow;
    positions.set(key, {
      shares: (held?.shares ?? 0) + deltas.position.shares,
      costBasis: (held?.costBasis ?? 0) + deltas.position.costBasis,
    });
    check({ book, escrow, balances, positions });
  }
  return { book, escrow, balances, positions };
}

const tradesArb = fc.record({
  n: fc.integer({ min: 2, max: 5 }),
  b: liquidity,
  steps: fc.array(step, { minLength: 1, maxLength: 30 }),
});

describe('trade execution (properties)', () => {
  test('every rounding favours the market maker', () => {
    fc.assert(
      fc.property(bookArb, fc.nat(5), fc.integer({ min: 1, max: 100_000_000_000 }), (book, k, cents) => {
        const outcome = k % book.outcomes.length;
        // Float error of a cost difference: a few ulps of the costs (a micro-share is worth up to 1e-6).
        const eps = 1e-12 * Math.max(1, Math.abs(floatCost(book)));
        // A buy: the shares received cost at most what was paid.
        const buy = plan(book, { outcome, side: 'buy', quantity: cents });
        if (buy) {
          const after = applyToBook(book, buy.deltas);
          const exact = floatCost(after) - floatCost(book);
          assert.ok(
            exact <= cents / CENTS_PER_UNIT + 1e-12 * Math.max(1, floatCost(after)),
            `paid ${cents} cents for shares worth ${exact}`,
          );
          // Selling them straight back returns at most what they cost.
          const back = plan(after, { outcome, side: 'sell', quantity: buy.result.shares }, buy.result.shares);
          if (back)
            assert.ok(back.result.cents <= cents, `bought for ${cents}, sold for ${back.result.cents}`);
        }
        // A sell: what it pays is at most the exact value the book gives for the shares.
        const sold = Math.max(1, Math.floor(book.shares[outcome]! / 2));
        const sell = plan(book, { outcome, side: 'sell', quantity: sold }, sold);
        if (sell) {
          const exact = floatCost(book) - floatCost(applyToBook(book, sell.deltas));
          assert.ok(
            sell.result.cents / CENTS_PER_UNIT <= exact + eps,
            `paid ${sell.result.cents} for ${exact}`,
          );
        }
        // The subsidy is rounded up, a payout down.
        const n = book.outcomes.length;
        assert.ok(subsidyCents(book.liquidity, n) >= subsidy(book.liquidity, n));
        assert.ok(payoutCents(book.shares[0]!) <= (book.shares[0]! / MICROS_PER_SHARE) * CENTS_PER_UNIT);
      }),
      { numRuns: 500 },
    );
  });

  test('no sequence of buys and sells by one user returns more than it cost', () => {
    fc.assert(
      fc.property(tradesArb, ({ n, b, steps }) => {
        const alone = steps.map((s) => ({ ...s, user: 0 }));
        const { book, balances, positions } = simulate(n, b, alone, () => {});
        // Then the user sells everything they hold, outcome by outcome.
        let state = book;
        let balance = balances[0]!;
        for (let i = 0; i < n; i++) {
          const held = positions.get(`0:${i}`);
          if (!held || held.shares <= 0) continue;
          const out = planTrade(
            state,
            { balance, position: held },
            { outcome: i, side: 'sell', quantity: held.shares },
          );
          state = applyToBook(state, out.deltas);
          balance -= out.deltas.escrow;
        }
        assert.ok(balance <= 1e12, `ended with ${balance - 1e12} cents more than they started with`);
      }),
      { numRuns: 300 },
    );
  });

  test('escrow always covers the worst-case payout', () => {
    fc.assert(
      fc.property(tradesArb, ({ n, b, steps }) => {
        simulate(n, b, steps, ({ escrow, positions }) => {
          for (let i = 0; i < n; i++) {
            let owed = 0;
            for (const [key, p] of positions) if (key.endsWith(`:${i}`)) owed += payoutCents(p.shares);
            assert.ok(escrow >= owed, `outcome ${i} wins: owes ${owed} cents, escrow holds ${escrow}`);
          }
        });
      }),
      { numRuns: 300 },
    );
  });
});

/** planTrade for a trader who can afford it (and holds `held` of the outcome), or undefined when refused. */
function plan(book: Book, order: TradeOrder, held = 0) {
  try {
    return planTrade(book, { balance: 1e15, position: { shares: held, costBasis: 0 } }, order);
  } catch (error) {
    if (error instanceof DomainError) return undefined;
    throw error;
  }
}
