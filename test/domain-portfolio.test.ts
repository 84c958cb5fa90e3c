import assert from 'node:assert/strict';
import { test } from 'node:test';
import { periodStartDay, valueHolding } from '../src/domain/portfolio.ts';
import { saleProceeds } from '../src/domain/trade.ts';

const book = { shares: [40_000_000, 10_000_000], liquidity: 10_000 };

test('an open holding is worth its sale now; realised + unrealised = value − net spend', () => {
  const holding = { shares: 30_000_000, costBasis: 1_500, netSpent: 1_200 };
  const v = valueHolding(holding, { state: 'open', book, outcome: 0 });
  assert.equal(v.value, saleProceeds(book, 0, holding.shares));
  assert.equal(v.realised, 300); // sold earlier for 300 more than the basis it took away
  assert.equal(v.unrealised, v.value - 1_500);
  assert.equal(v.profit, v.value - 1_200);
});

test('settled holdings have no unrealised part: payout if won, nothing if lost, the refund if cancelled', () => {
  const holding = { shares: 12_345_678, costBasis: 800, netSpent: 800 };
  assert.deepEqual(valueHolding(holding, { state: 'resolved', won: true }), {
    value: 1_234,
    realised: 434,
    unrealised: 0,
    profit: 434,
  });
  assert.equal(valueHolding(holding, { state: 'resolved', won: false }).profit, -800);
  assert.equal(valueHolding(holding, { state: 'cancelled' }).profit, 0);
  // Sold at a profit before the cancellation: keeps it, refunded nothing.
  assert.deepEqual(valueHolding({ shares: 0, costBasis: 0, netSpent: -50 }, { state: 'cancelled' }), {
    value: 0,
    realised: 50,
    unrealised: 0,
    profit: 50,
  });
});

test('periods are UTC days: today, the last 7, the last 30, or all time', () => {
  const now = new Date('2026-03-01T23:59:00Z');
  assert.equal(periodStartDay('day', now), '2026-03-01');
  assert.equal(periodStartDay('week', now), '2026-02-23');
  assert.equal(periodStartDay('month', now), '2026-01-31');
  assert.equal(periodStartDay('all', now), undefined);
});
