import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { cost, price, prices, sharesForMoney, subsidy, withShares } from '../src/domain/lmsr.ts';

// Books as the ledger can hold them: 2 to 8 outcomes, up to ten million shares each, b from
// 0.01 to 1 000 000 units (the schema's range).
const outcomes = fc.integer({ min: 2, max: 8 });
const b = fc.double({ min: 0.01, max: 1_000_000, noNaN: true, noDefaultInfinity: true });
const shares = fc.double({ min: 0, max: 10_000_000, noNaN: true, noDefaultInfinity: true });
const book = outcomes.chain((n) => fc.record({ q: fc.array(shares, { minLength: n, maxLength: n }), b }));

const close = (a: number, e: number, rel = 1e-9) =>
  Math.abs(a - e) <= rel * Math.max(1, Math.abs(a), Math.abs(e));

describe('LMSR over N outcomes (properties)', () => {
  test('the prices of all outcomes sum to 1, each inside [0, 1]', () => {
    fc.assert(
      fc.property(book, ({ q, b }) => {
        const p = prices(q, b);
        assert.ok(
          p.every((x) => x >= 0 && x <= 1),
          `prices ${p}`,
        );
        assert.ok(
          close(
            p.reduce((s, x) => s + x, 0),
            1,
            1e-12,
          ),
          `sum ${p.reduce((s, x) => s + x, 0)}`,
        );
      }),
    );
  });

  test('an empty book prices every outcome at 1/N and costs b·ln N, the subsidy', () => {
    fc.assert(
      fc.property(outcomes, b, (n, b) => {
        const q = new Array<number>(n).fill(0);
        for (let i = 0; i < n; i++) assert.ok(close(price(q, b, i), 1 / n, 1e-12));
        assert.ok(close(cost(q, b), subsidy(b, n)));
      }),
    );
  });

  test('the cost of reaching a book does not depend on the path taken', () => {
    // The same buys (outcome, shares) in two orders: the money paid along each path is the same.
    const path = outcomes.chain((n) =>
      fc.record({
        n: fc.constant(n),
        b,
        steps: fc.array(fc.tuple(fc.nat(n - 1), fc.double({ min: 0, max: 100_000, noNaN: true })), {
          minLength: 1,
          maxLength: 12,
        }),
      }),
    );
    fc.assert(
      fc.property(
        path.chain((p) =>
          fc.record({
            p: fc.constant(p),
            other: fc.shuffledSubarray(p.steps, { minLength: p.steps.length, maxLength: p.steps.length }),
          }),
        ),
        ({ p, other }) => {
          const paid = (steps: [number, number][]) => {
            let q = new Array<number>(p.n).fill(0);
            let total = 0;
            for (const [i, d] of steps) {
              const next = withShares(q, i, d);
              total += cost(next, p.b) - cost(q, p.b);
              q = next;
            }
            return total;
          };
          const a = paid(p.steps);
          const c = paid(other);
          assert.ok(close(a, c, 1e-9), `${a} along one path, ${c} along the other`);
        },
      ),
    );
  });

  test('the shares money buys cost that money: C(q + Δ) − C(q) = m', () => {
    fc.assert(
      fc.property(book, fc.nat(7), fc.double({ min: 0.01, max: 1e9, noNaN: true }), ({ q, b }, k, m) => {
        const i = k % q.length;
        const d = sharesForMoney(q, b, i, m);
        assert.ok(d > 0, `${m} buys ${d} shares`);
        assert.ok(close(cost(withShares(q, i, d), b) - cost(q, b), m, 1e-6), 'cost of the shares bought');
      }),
    );
  });
});
