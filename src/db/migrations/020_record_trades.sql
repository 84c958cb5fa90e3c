-- Buys on known market rows, written in one autocommitted statement (src/modules/trading/
-- trading.service.ts groups them; ledger.repository.ts recordTrades sends them, those of several
-- markets together when they start in one turn of the event loop). The kernel planned each buy
-- of a market on the book the one before it leaves, so each carries the version it expects:
-- record_trade checks it, the market being open, the trader's balance and that no limit order
-- rests, exactly as for a buy alone. They run in the order given, each seeing what the ones
-- before it wrote; in each market the first one refused stops that market's later ones (planned
-- on a book it would have left): they answer 'skipped'. What was recorded commits. One row per
-- buy, in order.
--
-- Every market first, in id order, then every trader, in id order: the lock order of every money
-- path (ledger.repository.ts) with several markets at once, so two such statements, or one and a
-- settlement, cannot deadlock. A lock not had within p_lock_timeout_ms fails the statement
-- (55P03), and nothing is written.
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
  stopped uuid[] := '{}';
BEGIN
  PERFORM set_config('lock_timeout', greatest(p_lock_timeout_ms, 1)::text, true);
  PERFORM FROM markets
    WHERE id IN (SELECT (e->>'marketId')::uuid FROM jsonb_array_elements(p_trades) AS e)
    ORDER BY id FOR NO KEY UPDATE;
  PERFORM FROM users
    WHERE id IN (SELECT (e->>'userId')::uuid FROM jsonb_array_elements(p_trades) AS e)
    ORDER BY id FOR NO KEY UPDATE;
  FOR t IN SELECT e.value FROM jsonb_array_elements(p_trades) WITH ORDINALITY AS e(value, n) ORDER BY e.n LOOP
    IF (t->>'marketId')::uuid = ANY (stopped) THEN
      status := 'skipped';
      trade_created_at := NULL; market_updated_at := NULL; balance := NULL; position_shares := NULL;
      position_cost_basis := NULL; position_net_spent := NULL; position_payout := NULL;
      position_updated_at := NULL; resting_orders := NULL;
      RETURN NEXT;
      CONTINUE;
    END IF;
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
    IF r.status <> 'recorded' THEN stopped := stopped || (t->>'marketId')::uuid; END IF;
  END LOOP;
END $$;
