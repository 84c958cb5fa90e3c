/**
 * The logarithmic market scoring rule over N outcomes, in floating-point units (shares and money
 * as plain numbers; `q[i]` is the outstanding shares of outcome i, `b` the liquidity):
 *   C(q) = b·ln Σ e^(q_i/b),   price_i = e^(q_i/b) / Σ_j e^(q_j/b),   worst-case loss b·ln N.
 * Computed in log-sum-exp form, so large share counts never overflow. Rounding to cents and
 * micro-shares happens in the caller (trade.ts), always in the maker's favour.
 */
export type Quantities = readonly number[];

/** C(q). */
export function cost(q: Quantities, b: number): number {
  const top = Math.max(...q);
  let sum = 0;
  for (const qi of q) sum += Math.exp((qi - top) / b);
  return top + b * Math.log(sum);
}

/** price_i = 1 / Σ_j e^((q_j − q_i)/b): no overflow, and exactly the textbook 1/(1 + e^(Δ/b)) for two. */
export function price(q: Quantities, b: number, i: number): number {
  // Two outcomes: the second is the exact complement of the first (as binary markets have always
  // been priced), so YES read back from a NO trade's price (1 − p) is YES's own price, to the bit.
  if (q.length === 2 && i === 1) return 1 - price(q, b, 0);
  const own = q[i]!;
  let sum = 0;
  for (const qj of q) sum += Math.exp((qj - own) / b);
  return 1 / sum;
}

/** Every outcome's price, in outcome order; they sum to 1 (up to float rounding). */
export function prices(q: Quantities, b: number): number[] {
  return q.map((_, i) => price(q, b, i));
}

/** q with `delta` more shares of outcome i. */
export function withShares(q: Quantities, i: number, delta: number): number[] {
  return q.map((qj, j) => (j === i ? qj + delta : qj));
}

/**
 * The shares of outcome i that `money` buys exactly: solves C(q + Δ·e_i) − C(q) = money for Δ.
 * e^(q_i'/b) = e^(T/b) − Σ_{j≠i} e^(q_j/b) with T = C(q) + money, so
 * q_i' = T + b·ln(1 − Σ_{j≠i} e^((q_j − T)/b)).
 */
export function sharesForMoney(q: Quantities, b: number, i: number, money: number): number {
  const target = cost(q, b) + money;
  let others = 0;
  for (const [j, qj] of q.entries()) if (j !== i) others += Math.exp((qj - target) / b);
  const ownAfter = target + b * Math.log1p(-others);
  return ownAfter - q[i]!;
}

/** What the maker pays for `shares` of outcome i sold back: C(q) − C(q − shares·e_i). */
export function proceedsForShares(q: Quantities, b: number, i: number, shares: number): number {
  return cost(q, b) - cost(withShares(q, i, -shares), b);
}

/** The maker's worst-case loss over `outcomes` outcomes, which the creator funds: b·ln N. */
export function subsidy(b: number, outcomes: number): number {
  return b * Math.log(outcomes);
}
