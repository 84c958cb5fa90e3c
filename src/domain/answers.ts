import { UnknownAnswer, WrongAnswerKind } from './domain-errors.ts';
import { prices } from './lmsr.ts';
import { CENTS_PER_UNIT, MICROS_PER_SHARE } from './money.ts';
import { clampProbability } from './trade.ts';

/**
 * Every answer's price from a market's book. A binary market's are its stored YES probability and
 * its complement (exactly as it has always been priced); a multiple-choice market's are the LMSR
 * prices of its shares. Either way they sum to 1.
 */
export function answerProbabilities(market: {
  type: 'binary' | 'multiple';
  probability: number;
  shares: readonly number[];
  liquidity: number;
}): number[] {
  if (market.type === 'binary') return [market.probability, 1 - market.probability];
  return prices(
    market.shares.map((s) => s / MICROS_PER_SHARE),
    market.liquidity / CENTS_PER_UNIT,
  ).map(clampProbability);
}

/** The probability a market shows (and sorts by): YES for a binary market, the leading answer's otherwise. */
export function headlineProbability(type: 'binary' | 'multiple', pricesAfter: readonly number[]): number {
  return type === 'binary' ? pricesAfter[0]! : Math.max(...pricesAfter);
}

/** How a request names an answer: a binary market's outcome, or any market's answer id. */
export type AnswerChoice =
  | { outcome: 'YES' | 'NO'; answerId?: undefined }
  | { answerId: string; outcome?: undefined };

/**
 * The index of the answer a request names on this market: an outcome is a binary market's answer
 * 0 (YES) or 1 (NO); an answerId must be one of the market's own.
 */
export function answerIndexIn(
  market: { type: 'binary' | 'multiple'; answers: readonly { id: string }[] },
  choice: AnswerChoice,
): number {
  if (choice.answerId !== undefined) {
    const index = market.answers.findIndex((a) => a.id === choice.answerId!.toLowerCase());
    if (index < 0) throw new UnknownAnswer(choice.answerId);
    return index;
  }
  if (market.type === 'multiple') throw new WrongAnswerKind();
  return choice.outcome === 'YES' ? 0 : 1;
}
