-- record_trades (020) no longer waits for a row lock: the markets and traders another
-- transaction holds (a settlement, a trade under locks, a limit order) are skipped, and in each
-- market the buys from the first whose market or trader was not had answer 'skipped', so the
-- caller trades them under locks, each waiting for its rows on its own connection within its own
-- deadline. A statement that waited would hold up the buys of every other market in it, and
-- ledger.repository.ts keeps one such statement in flight per instance (the event log's appends
-- take turns anyway): one market's long settlement must not stall the instance's buys. Taking
-- only rows that are free also means such a statement never waits in a lock cycle. It still takes
-- the event log's append lock (record_trade, append_event), which is held only by appends.
CREATE OR REPLACE FUNCTION record_trades(p_trades jsonb, p_lock_timeout_ms int)
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
  held_markets uuid[];
  held_users uuid[];
BEGIN
  PERFORM set_config('lock_timeout', greatest(p_lock_timeout_ms, 1)::text, true);
  SELECT coalesce(array_agg(m.id), '{}') INTO held_markets FROM (
    SELECT id FROM markets
    WHERE id IN (SELECT (e->>'marketId')::uuid FROM jsonb_array_elements(p_trades) AS e)
    ORDER BY id FOR NO KEY UPDATE SKIP LOCKED) AS m;
  SELECT coalesce(array_agg(u.id), '{}') INTO held_users FROM (
    SELECT id FROM users
    WHERE id IN (SELECT (e->>'userId')::uuid FROM jsonb_array_elements(p_trades) AS e)
    ORDER BY id FOR NO KEY UPDATE SKIP LOCKED) AS u;
  FOR t IN SELECT e.value FROM jsonb_array_elements(p_trades) WITH ORDINALITY AS e(value, n) ORDER BY e.n LOOP
    IF (t->>'marketId')::uuid = ANY (stopped)
       OR NOT (t->>'marketId')::uuid = ANY (held_markets)
       OR NOT (t->>'userId')::uuid = ANY (held_users) THEN
      -- Its market stops here: the buys after it were planned on the book it would have left.
      stopped := stopped || (t->>'marketId')::uuid;
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
