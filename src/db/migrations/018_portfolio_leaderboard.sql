-- Portfolio history and leaderboards (issue 14). Every table here is derived from the ledger
-- (trades, positions) by the leaderboard module's schedules and written by its repository alone.

-- One row per user per UTC day, taken by PORTFOLIO_SNAPSHOT_CRON: money in cents. profit is the
-- trading profit of all time at that moment (realised + unrealised); a period's profit is its change.
CREATE TABLE portfolio_snapshots (
  user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  day              date NOT NULL,
  balance          bigint NOT NULL,
  positions_value  bigint NOT NULL,
  net_worth        bigint NOT NULL,
  profit           bigint NOT NULL,
  taken_at         timestamptz(3) NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, day)
);

-- Money traded per user per UTC day (LEADERBOARD_REFRESH_CRON recounts the recent days).
CREATE TABLE leaderboard_user_days (
  user_id  uuid NOT NULL,
  day      date NOT NULL,
  volume   bigint NOT NULL,
  trades   integer NOT NULL,
  PRIMARY KEY (user_id, day)
);

-- The last day each trader traded in any market of each creator: "distinct traders since D" is
-- a count of rows with last_traded_on >= D.
CREATE TABLE leaderboard_creator_traders (
  creator_id      uuid NOT NULL,
  trader_id       uuid NOT NULL,
  last_traded_on  date NOT NULL,
  PRIMARY KEY (creator_id, trader_id)
);

-- The ranked boards the API serves, rebuilt by each refresh: one row per (board, period, rank).
CREATE TABLE leaderboard_entries (
  board    text NOT NULL CHECK (board IN ('profit', 'volume', 'traders')),
  period   text NOT NULL CHECK (period IN ('day', 'week', 'month', 'all')),
  rank     integer NOT NULL,
  user_id  uuid NOT NULL,
  value    bigint NOT NULL,
  PRIMARY KEY (board, period, rank)
);
CREATE INDEX leaderboard_entries_user_idx ON leaderboard_entries (user_id, board, period);

-- When the boards were last rebuilt, and from which trade time the recent days were recounted.
CREATE TABLE leaderboard_state (
  id            boolean PRIMARY KEY DEFAULT true CHECK (id),
  refreshed_at  timestamptz(3) NOT NULL
);

-- The refresh recounts the trades of the last two days: a range of this index, not the ledger.
-- BRIN, not a btree: trades arrive in time order, so block ranges summarise it in a few pages, and a
-- BRIN index cannot return rows in order, so the planner never walks it backwards for a market's
-- "last trade before" (as it did a btree, in place of trades_market_created_idx: markets-history's
-- EXPLAIN test).
CREATE INDEX trades_created_brin ON trades USING brin (created_at);
