/**
 * The logarithmic market scoring rule for a binary market, in floating point units.
 * C(q) = b·ln(e^(yes/b) + e^(no/b)); price(YES) = e^(yes/b) / (e^(yes/b) + e^(no/b)).
 * Computed in log-sum-exp form so large share counts never overflow.
 * Rounding to cents and micro-shares happens in the caller, always in the maker's favour.
 */
export interface LmsrState {
  yes: number;
  no: number;
  b: number;
}
export type Outcome = 'YES' | 'NO';

export function cost({ yes, no, b }: LmsrState): number {
  const top = Math.max(yes, no);
  return top + b * Math.log(Math.exp((yes - top) / b) + Math.exp((no - top) / b));
}

export function priceYes({ yes, no, b }: LmsrState): number {
  return 1 / (1 + Math.exp((no - yes) / b));
}

export function price(state: LmsrState, outcome: Outcome): number {
  return outcome === 'YES' ? priceYes(state) : 1 - priceYes(state);
}

export function withShares(state: LmsrState, outcome: Outcome, delta: number): LmsrState {
  return outcome === 'YES' ? { ...state, yes: state.yes + delta } : { ...state, no: state.no + delta };
}

/** The shares of `outcome` that `money` buys exactly: solves C(q + Δ) − C(q) = money for Δ. */
export function sharesForMoney(state: LmsrState, outcome: Outcome, money: number): number {
  const own = outcome === 'YES' ? state.yes : state.no;
  const other = outcome === 'YES' ? state.no : state.yes;
  const target = cost(state) + money;
  // e^(own'/b) = e^(target/b) − e^(other/b)  ⇒  own' = target + b·ln(1 − e^((other − target)/b))
  const ownAfter = target + state.b * Math.log1p(-Math.exp((other - target) / state.b));
  return ownAfter - own;
}

/** What the maker pays for `shares` of `outcome` sold back: C(q) − C(q − shares). */
export function proceedsForShares(state: LmsrState, outcome: Outcome, shares: number): number {
  return cost(state) - cost(withShares(state, outcome, -shares));
}

/** The maker's worst-case loss, which the creator funds: b·ln 2. */
export function subsidy(b: number): number {
  return b * Math.LN2;
}
