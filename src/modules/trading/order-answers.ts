import type { Outcome } from '../../db/schema.ts';
import { BINARY_OUTCOMES, outcomeIndex } from '../../domain/binary-lmsr.ts';

/**
 * The one place limit orders map the API's outcome to the stored answer index and back. A binary
 * market's YES is answer 0, NO answer 1 (contracts.md); multiple-choice markets will map answerId
 * here.
 */
export const answerIndexOf = (outcome: Outcome): number => outcomeIndex(outcome);
export const outcomeOfAnswer = (index: number): Outcome => BINARY_OUTCOMES[index]!;
