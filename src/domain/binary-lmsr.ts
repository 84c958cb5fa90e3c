import * as lmsr from './lmsr.ts';

/**
 * A binary market is the N = 2 case of lmsr.ts: YES is outcome 0, NO outcome 1. This view keeps
 * the YES/NO vocabulary of today's API and rows ({ yes, no, b }) over the N-outcome functions.
 */
export type Outcome = 'YES' | 'NO';
export const BINARY_OUTCOMES: readonly Outcome[] = ['YES', 'NO'];
export const outcomeIndex = (outcome: Outcome) => (outcome === 'YES' ? 0 : 1);

export interface LmsrState {
  yes: number;
  no: number;
  b: number;
}

const q = ({ yes, no }: LmsrState) => [yes, no];

export const cost = (state: LmsrState) => lmsr.cost(q(state), state.b);
export const priceYes = (state: LmsrState) => lmsr.price(q(state), state.b, 0);
export const price = (state: LmsrState, outcome: Outcome) =>
  lmsr.price(q(state), state.b, outcomeIndex(outcome));
export const sharesForMoney = (state: LmsrState, outcome: Outcome, money: number) =>
  lmsr.sharesForMoney(q(state), state.b, outcomeIndex(outcome), money);
export const proceedsForShares = (state: LmsrState, outcome: Outcome, shares: number) =>
  lmsr.proceedsForShares(q(state), state.b, outcomeIndex(outcome), shares);
/** b·ln 2. */
export const subsidy = (b: number) => lmsr.subsidy(b, BINARY_OUTCOMES.length);
