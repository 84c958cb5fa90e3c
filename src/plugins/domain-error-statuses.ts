import type { DomainError, DomainErrorCode } from '../domain/domain-errors.ts';
import { ApiError } from '../lib/errors.ts';

/**
 * The one table from the domain's refusals to HTTP: each domain error's status and the envelope
 * code it is answered with (DESIGN.md: 409 conflict with the market's state, 422 a business rule).
 */
const STATUSES: Record<DomainErrorCode, { status: number; code: string }> = {
  INSUFFICIENT_BALANCE: { status: 422, code: 'INSUFFICIENT_BALANCE' },
  INSUFFICIENT_SHARES: { status: 422, code: 'INSUFFICIENT_SHARES' },
  AMOUNT_TOO_SMALL: { status: 422, code: 'AMOUNT_TOO_SMALL' },
  SLIPPAGE: { status: 409, code: 'SLIPPAGE' },
  MARKET_NOT_TRADABLE: { status: 409, code: 'MARKET_NOT_TRADABLE' },
  MARKET_SETTLED: { status: 409, code: 'MARKET_SETTLED' },
  MARKET_NOT_EDITABLE: { status: 409, code: 'MARKET_NOT_EDITABLE' },
  MARKET_HAS_TRADES: { status: 409, code: 'MARKET_HAS_TRADES' },
  UNKNOWN_ANSWER: { status: 400, code: 'UNKNOWN_ANSWER' },
  WRONG_ANSWER_KIND: { status: 400, code: 'WRONG_ANSWER_KIND' },
  TOO_MANY_OPEN_ORDERS: { status: 422, code: 'TOO_MANY_OPEN_ORDERS' },
  ORDER_NOT_OPEN: { status: 409, code: 'ORDER_NOT_OPEN' },
};

export function fromDomainError(error: DomainError): ApiError {
  const { status, code } = STATUSES[error.code];
  return new ApiError(status, code, error.message);
}
