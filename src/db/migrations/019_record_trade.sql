-- Appending to the event log, in one place (src/modules/events/events.repository.ts says why
-- the lock): the transaction-level advisory lock makes appends take turns from the insert to the
-- commit, so seq order is commit order; the notification is delivered at the commit.
CREATE FUNCTION append_event(p_type text, p_market_id uuid, p_payload jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(6001006);
  PERFORM pg_notify('markets_events', '');
  INSERT INTO events (type, market_id, payload) VALUES (p_type, p_market_id, p_payload);
END $$;

-- A trade the domain kernel (src/domain/trade.ts) planned, written: its ledger line, the market's
-- book, the trader's balance and position, and its event (src/modules/trading/ledger.repository.ts
-- recordTrade). Nothing is priced here.
--
-- p_expected_version null: the caller's transaction holds the market's and the trader's locks and
-- checked everything under them. Otherwise the call is the whole trade, one autocommitted
-- statement planned on the market row at p_expected_version: it locks the market (waiting at most
-- p_lock_timeout_ms) and the trader in the lock order of every money path, and writes nothing,
-- answering why (status), unless the row is still that version and open by the clock, the trader
-- exists and can pay, and no limit order rests on the market (a trade that may cross one is
-- matched in a transaction). Each statement here reads a snapshot taken after the locks before it.
--
-- A trade event's payload gets the line's time as trade.createdAt, in JavaScript's toISOString form.
CREATE FUNCTION record_trade(
  p_id uuid, p_market_id uuid, p_user_id uuid, p_outcome text, p_answer_index int, p_side text,
  p_amount bigint, p_shares bigint, p_probability_before float8, p_probability_after float8,
  p_answer_prices float8[], p_created_at timestamptz,
  p_book_shares bigint[], p_book_probability float8, p_book_escrow bigint, p_volume_delta bigint,
  p_balance_delta bigint, p_position_shares bigint, p_position_cost_basis bigint, p_position_net_spent bigint,
  p_event_type text, p_event_payload jsonb,
  p_expected_version int, p_lock_timeout_ms int,
  OUT status text, OUT trade_created_at timestamptz, OUT market_updated_at timestamptz, OUT balance bigint,
  OUT position_shares bigint, OUT position_cost_basis bigint, OUT position_net_spent bigint,
  OUT position_payout bigint, OUT position_updated_at timestamptz, OUT resting_orders boolean
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  line_at timestamptz(3);
BEGIN
  IF p_expected_version IS NOT NULL THEN
    PERFORM set_config('lock_timeout', greatest(p_lock_timeout_ms, 1)::text, true);
    PERFORM FROM markets
      WHERE id = p_market_id AND version = p_expected_version
        AND status = 'active' AND closes_at > clock_timestamp()
      FOR NO KEY UPDATE;
    IF NOT FOUND THEN status := 'stale'; RETURN; END IF;
    PERFORM FROM users WHERE id = p_user_id AND users.balance + p_balance_delta >= 0 FOR NO KEY UPDATE;
    IF NOT FOUND THEN status := 'refused'; RETURN; END IF;
    IF EXISTS (SELECT FROM orders WHERE market_id = p_market_id AND orders.status = 'open') THEN
      status := 'orders'; RETURN;
    END IF;
  END IF;
  line_at := coalesce(p_created_at, clock_timestamp());

  INSERT INTO trades (id, market_id, user_id, outcome, answer_index, side, amount, shares,
                      probability_before, probability_after, answer_prices, created_at)
    VALUES (p_id, p_market_id, p_user_id, p_outcome, p_answer_index, p_side, p_amount, p_shares,
            p_probability_before, p_probability_after, p_answer_prices, line_at)
    RETURNING created_at INTO trade_created_at;
  UPDATE markets SET shares = p_book_shares, probability = p_book_probability, escrow = p_book_escrow,
      volume = volume + p_volume_delta, updated_at = now(), version = version + 1
    WHERE id = p_market_id
    RETURNING updated_at INTO market_updated_at;
  IF p_balance_delta = 0 THEN
    SELECT balance INTO balance FROM users WHERE id = p_user_id;
  ELSE
    UPDATE users SET balance = users.balance + p_balance_delta WHERE id = p_user_id
      RETURNING users.balance INTO balance;
  END IF;
  -- A sell only updates: an upsert would check its proposed insert row (negative shares) against
  -- the constraint.
  IF p_position_shares < 0 THEN
    UPDATE positions SET shares = shares + p_position_shares, cost_basis = cost_basis + p_position_cost_basis,
        net_spent = net_spent + p_position_net_spent, updated_at = now()
      WHERE market_id = p_market_id AND user_id = p_user_id AND answer_index = p_answer_index
      RETURNING shares, cost_basis, net_spent, payout, updated_at
      INTO position_shares, position_cost_basis, position_net_spent, position_payout, position_updated_at;
  ELSE
    INSERT INTO positions (market_id, user_id, answer_index, outcome, shares, cost_basis, net_spent)
      VALUES (p_market_id, p_user_id, p_answer_index, p_outcome, p_position_shares, p_position_cost_basis,
              p_position_net_spent)
      ON CONFLICT (market_id, user_id, answer_index) DO UPDATE SET
        shares = positions.shares + excluded.shares, cost_basis = positions.cost_basis + excluded.cost_basis,
        net_spent = positions.net_spent + excluded.net_spent, updated_at = now()
      RETURNING shares, cost_basis, net_spent, payout, updated_at
      INTO position_shares, position_cost_basis, position_net_spent, position_payout, position_updated_at;
  END IF;
  IF position_shares IS NULL THEN
    RAISE EXCEPTION 'record_trade: no position of user % in market % to sell from', p_user_id, p_market_id;
  END IF;

  IF p_event_type IS NOT NULL THEN
    PERFORM append_event(p_event_type, p_market_id, CASE WHEN p_event_type = 'trade.created'
      THEN jsonb_set(p_event_payload, '{trade,createdAt}',
                     to_jsonb(to_char(line_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
      ELSE p_event_payload END);
  END IF;
  -- Every order placement takes the market's lock, which this transaction holds: this sees them all.
  resting_orders := EXISTS (SELECT FROM orders WHERE market_id = p_market_id AND orders.status = 'open');
  status := 'recorded';
END $$;
