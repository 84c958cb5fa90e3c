-- Buys on one market that queued behind each other, written in one autocommitted statement
-- (src/modules/trading/trading.service.ts runs them; ledger.repository.ts recordTrades sends
-- them). The kernel planned each on the book the one before it leaves, so each carries the
-- version it expects: record_trade checks it, the market being open, the trader's balance and
-- that no limit order rests, exactly as for a buy alone. They run in order, each seeing what
-- the ones before it wrote; the first that is refused stops the rest (they were planned on a
-- book it would have left), and what was recorded before it commits. One row per call, in order:
-- fewer rows than trades means the rest were not tried.
--
-- Each element: the arguments of record_trade by name (camelCase), arrays as their text form.
CREATE FUNCTION record_trades(p_trades jsonb, p_lock_timeout_ms int)
RETURNS TABLE (
  status text, trade_created_at timestamptz, market_updated_at timestamptz, balance bigint,
  position_shares bigint, position_cost_basis bigint, position_net_spent bigint,
  position_payout bigint, position_updated_at timestamptz, resting_orders boolean
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  t jsonb;
  r record;
BEGIN
  FOR t IN SELECT e.value FROM jsonb_array_elements(p_trades) WITH ORDINALITY AS e(value, n) ORDER BY e.n LOOP
    SELECT * INTO r FROM record_trade(
      (t->>'id')::uuid, (t->>'marketId')::uuid, (t->>'userId')::uuid, t->>'outcome',
      (t->>'answerIndex')::int, t->>'side', (t->>'amount')::bigint, (t->>'shares')::bigint,
      (t->>'probabilityBefore')::float8, (t->>'probabilityAfter')::float8, (t->>'answerPrices')::float8[],
      NULL, (t->>'bookShares')::bigint[], (t->>'bookProbability')::float8, (t->>'bookEscrow')::bigint,
      (t->>'volumeDelta')::bigint, (t->>'balanceDelta')::bigint, (t->>'positionShares')::bigint,
      (t->>'positionCostBasis')::bigint, (t->>'positionNetSpent')::bigint, t->>'eventType',
      t->'eventPayload', (t->>'expectedVersion')::int, p_lock_timeout_ms);
    status := r.status;
    trade_created_at := r.trade_created_at;
    market_updated_at := r.market_updated_at;
    balance := r.balance;
    position_shares := r.position_shares;
    position_cost_basis := r.position_cost_basis;
    position_net_spent := r.position_net_spent;
    position_payout := r.position_payout;
    position_updated_at := r.position_updated_at;
    resting_orders := r.resting_orders;
    RETURN NEXT;
    EXIT WHEN r.status <> 'recorded';
  END LOOP;
END $$;
