-- Trading. All money is integer cents (1 unit = 100 cents); shares are integer micro-shares
-- (1 share = 1 000 000), each winning share pays 1 unit. Rounding always favours the market
-- maker, so a market's escrow always covers what it owes.

-- Balances. `granted` records what each user was given, so the ledger can prove that
-- granted = balances + escrow at every instant. The default grant is 1000 units; the
-- application passes its configured grant when it creates users.
ALTER TABLE users ADD COLUMN balance bigint NOT NULL DEFAULT 100000 CHECK (balance >= 0);
ALTER TABLE users ADD COLUMN granted bigint NOT NULL DEFAULT 100000;

CREATE FUNCTION users_record_grant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.granted := NEW.balance;
  RETURN NEW;
END;
$$;
CREATE TRIGGER users_record_grant BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION users_record_grant();

-- The market maker's state: LMSR liquidity b (cents), outstanding shares, the money it holds.
ALTER TABLE markets ADD COLUMN liquidity bigint NOT NULL DEFAULT 10000 CHECK (liquidity > 0);
ALTER TABLE markets ADD COLUMN yes_shares bigint NOT NULL DEFAULT 0 CHECK (yes_shares >= 0);
ALTER TABLE markets ADD COLUMN no_shares bigint NOT NULL DEFAULT 0 CHECK (no_shares >= 0);
ALTER TABLE markets ADD COLUMN subsidy bigint NOT NULL DEFAULT 0 CHECK (subsidy >= 0);
ALTER TABLE markets ADD COLUMN escrow bigint NOT NULL DEFAULT 0 CHECK (escrow >= 0);

-- The append-only ledger of trades. amount: cents paid (buy) or received (sell).
CREATE TABLE trades (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  market_id    uuid NOT NULL REFERENCES markets (id),
  user_id      uuid NOT NULL REFERENCES users (id),
  outcome      text NOT NULL CHECK (outcome IN ('YES', 'NO')),
  side         text NOT NULL CHECK (side IN ('buy', 'sell')),
  amount       bigint NOT NULL CHECK (amount >= 0),
  shares       bigint NOT NULL CHECK (shares > 0),
  probability_before double precision NOT NULL,
  probability_after  double precision NOT NULL,
  created_at   timestamptz(3) NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX trades_market_created_idx ON trades (market_id, created_at, id);
CREATE INDEX trades_user_created_idx ON trades (user_id, created_at, id);

-- A user's holding per market and outcome. cost_basis: cents paid for the shares still held;
-- net_spent: cents paid minus cents received over all trades (what a cancellation refunds).
CREATE TABLE positions (
  user_id     uuid NOT NULL REFERENCES users (id),
  market_id   uuid NOT NULL REFERENCES markets (id),
  outcome     text NOT NULL CHECK (outcome IN ('YES', 'NO')),
  shares      bigint NOT NULL DEFAULT 0 CHECK (shares >= 0),
  cost_basis  bigint NOT NULL DEFAULT 0 CHECK (cost_basis >= 0),
  net_spent   bigint NOT NULL DEFAULT 0,
  payout      bigint NOT NULL DEFAULT 0 CHECK (payout >= 0),
  updated_at  timestamptz(3) NOT NULL DEFAULT now(),
  PRIMARY KEY (market_id, user_id, outcome)
);
CREATE INDEX positions_user_idx ON positions (user_id, updated_at);

-- Idempotency-Key: the first answer to a money-moving POST, replayed for retries.
CREATE TABLE idempotency_keys (
  user_id       uuid NOT NULL REFERENCES users (id),
  key           text NOT NULL,
  request_hash  text NOT NULL,
  status_code   integer,
  response      jsonb,
  created_at    timestamptz(3) NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key)
);
