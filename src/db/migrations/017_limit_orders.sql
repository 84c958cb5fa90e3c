-- Resting limit orders (issue 14). answer_index is the traded answer: for a binary market
-- 0 = YES, 1 = NO (the index of market_answers once multiple-choice markets exist).
-- limit_milli: the limit probability in thousandths (the price grid: 0.001 .. 0.999).
-- amount / remaining: buy in cents to spend, sell in micro-shares to sell.
-- reserved: what the order holds back while open, taken from its owner when it was placed —
-- cents off the balance (buy) or micro-shares off the position (sell, with their cost basis in
-- reserved_cost_basis). The ledger counts open buys' reserved cents: granted = balances + escrow
-- + reservations. A closed order (filled, cancelled, expired) reserves nothing.
CREATE TABLE orders (
  id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  market_id           uuid NOT NULL REFERENCES markets (id),
  user_id             uuid NOT NULL REFERENCES users (id),
  answer_index        smallint NOT NULL CHECK (answer_index >= 0),
  side                text NOT NULL CHECK (side IN ('buy', 'sell')),
  limit_milli         smallint NOT NULL CHECK (limit_milli BETWEEN 1 AND 999),
  amount              bigint NOT NULL CHECK (amount > 0),
  remaining           bigint NOT NULL CHECK (remaining >= 0),
  reserved            bigint NOT NULL CHECK (reserved >= 0),
  reserved_cost_basis bigint NOT NULL DEFAULT 0 CHECK (reserved_cost_basis >= 0),
  filled_shares       bigint NOT NULL DEFAULT 0 CHECK (filled_shares >= 0),
  filled_amount       bigint NOT NULL DEFAULT 0 CHECK (filled_amount >= 0),
  status              text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'filled', 'cancelled', 'expired')),
  expires_at          timestamptz(3),
  created_at          timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
  updated_at          timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
  CHECK (status = 'open' OR (reserved = 0 AND reserved_cost_basis = 0))
);
-- The matcher's read: a market's open orders per answer and side, by price then age.
CREATE INDEX orders_book_idx ON orders (market_id, answer_index, side, limit_milli, created_at, id)
  WHERE status = 'open';
-- GET /api/me/orders, newest first.
CREATE INDEX orders_user_created_idx ON orders (user_id, created_at, id);
-- The expiry schedule's read.
CREATE INDEX orders_expiry_idx ON orders (expires_at) WHERE status = 'open' AND expires_at IS NOT NULL;
