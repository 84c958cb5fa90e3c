import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  cost,
  price,
  priceYes,
  proceedsForShares,
  sharesForMoney,
  subsidy,
} from '../src/domain/binary-lmsr.ts';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} ≉ ${b}`);

describe('LMSR pricing rule', () => {
  test('an empty book prices both outcomes at 0.5 and costs b·ln 2', () => {
    const s = { yes: 0, no: 0, b: 100 };
    close(priceYes(s), 0.5);
    close(cost(s), 100 * Math.log(2));
    close(subsidy(100), 100 * Math.LN2);
  });

  test('price and cost follow the textbook formulas', () => {
    const s = { yes: 30, no: 10, b: 50 };
    const ey = Math.exp(30 / 50);
    const en = Math.exp(10 / 50);
    close(cost(s), 50 * Math.log(ey + en));
    close(priceYes(s), ey / (ey + en));
    close(price(s, 'NO'), en / (ey + en));
  });

  test('the shares money buys cost exactly that money: C(q + Δ) − C(q) = m', () => {
    for (const [s, m] of [
      [{ yes: 0, no: 0, b: 100 }, 10],
      [{ yes: 250, no: 40, b: 80 }, 3.17],
      [{ yes: 0, no: 900, b: 20 }, 1000],
    ] as const) {
      const d = sharesForMoney(s, 'YES', m);
      close(cost({ ...s, yes: s.yes + d }) - cost(s), m, 1e-7);
      const dn = sharesForMoney(s, 'NO', m);
      close(cost({ ...s, no: s.no + dn }) - cost(s), m, 1e-7);
    }
  });

  test('selling back what was just bought returns the money paid', () => {
    const s = { yes: 12, no: 40, b: 100 };
    const d = sharesForMoney(s, 'YES', 25);
    close(proceedsForShares({ ...s, yes: s.yes + d }, 'YES', d), 25, 1e-7);
  });

  test('huge books do not overflow', () => {
    const s = { yes: 1e6, no: 0, b: 10 };
    assert.ok(Number.isFinite(cost(s)));
    close(priceYes(s), 1);
    assert.ok(Number.isFinite(sharesForMoney(s, 'NO', 5)));
  });
});
