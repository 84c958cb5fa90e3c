import type { MarketStatus } from './market-status.ts';
import { type Cents, type Micros, toShares, toUnits } from './money.ts';

/**
 * A rule of the domain said no. Plain classes with a stable code and a message for people; what
 * HTTP status each becomes is decided in one table beside the error handler
 * (src/plugins/domain-error-statuses.ts), not here.
 */
export abstract class DomainError extends Error {
  abstract readonly code: DomainErrorCode;

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export type DomainErrorCode = (typeof DOMAIN_ERROR_CODES)[number];
export const DOMAIN_ERROR_CODES = [
  'INSUFFICIENT_BALANCE',
  'INSUFFICIENT_SHARES',
  'AMOUNT_TOO_SMALL',
  'SLIPPAGE',
  'MARKET_NOT_TRADABLE',
  'MARKET_SETTLED',
  'MARKET_NOT_EDITABLE',
  'MARKET_HAS_TRADES',
  'UNKNOWN_ANSWER',
  'WRONG_ANSWER_KIND',
  // Limit orders (limit-order.ts).
  'TOO_MANY_OPEN_ORDERS',
  'ORDER_NOT_OPEN',
] as const;

/** An answerId that is not one of this market's answers. */
export class UnknownAnswer extends DomainError {
  readonly code = 'UNKNOWN_ANSWER';
  constructor(answerId: string) {
    super(`Answer ${answerId} is not an answer of this market`);
  }
}

/** A binary `outcome` on a multiple-choice market (which names answers by answerId). */
export class WrongAnswerKind extends DomainError {
  readonly code = 'WRONG_ANSWER_KIND';
  constructor() {
    super('This is a multiple-choice market: name the answer with answerId, not outcome');
  }
}

export class InsufficientBalance extends DomainError {
  readonly code = 'INSUFFICIENT_BALANCE';
  /** A trade that costs more than the trader has. */
  static forTrade(cost: Cents, balance: Cents) {
    return new InsufficientBalance(
      `Insufficient balance: this costs ${toUnits(cost)}, you have ${toUnits(balance)}`,
    );
  }
  /** A market whose subsidy (and initial position) cost more than its creator has. */
  static forFunding(subsidy: Cents, initialPosition: Cents | undefined, balance: Cents) {
    const needed = subsidy + (initialPosition ?? 0);
    return new InsufficientBalance(
      `Insufficient balance: the market needs ${toUnits(needed)} (subsidy ${toUnits(subsidy)}` +
        `${initialPosition !== undefined ? ` + initial position ${toUnits(initialPosition)}` : ''}), you have ${toUnits(balance)}`,
    );
  }
}

export class InsufficientShares extends DomainError {
  readonly code = 'INSUFFICIENT_SHARES';
  constructor(held: Micros, outcome: string) {
    super(`Insufficient shares: you hold ${toShares(held)} ${outcome}`);
  }
}

export class AmountTooSmall extends DomainError {
  readonly code = 'AMOUNT_TOO_SMALL';
  constructor() {
    super('Amount is too small to buy any shares');
  }
}

/** The order's price guard (maxProbability / minProbability) refused the price it would end at. */
export class Slippage extends DomainError {
  readonly code = 'SLIPPAGE';
}

export class MarketNotTradable extends DomainError {
  readonly code = 'MARKET_NOT_TRADABLE';
  constructor(status: MarketStatus) {
    super(`Market is ${status}; it takes no trades`);
  }
}

export class MarketSettled extends DomainError {
  readonly code = 'MARKET_SETTLED';
  constructor(status: MarketStatus) {
    super(`Market is already ${status}`);
  }
}

export class MarketNotEditable extends DomainError {
  readonly code = 'MARKET_NOT_EDITABLE';
  constructor(status: MarketStatus) {
    super(`A ${status} market cannot be edited`);
  }
}

/** A traded market keeps what its traders bought: its question, its close time, its existence. */
export class MarketHasTrades extends DomainError {
  readonly code = 'MARKET_HAS_TRADES';
}
