-- The event log: every state change of a market, appended in the same transaction as the change
-- (src/modules/events/events.repository.ts), so a rolled-back change leaves no event and a
-- committed one always has its event. seq increases in commit order (the append takes an advisory
-- lock; see the repository), which lets a reader that has seen everything up to seq N resume with
-- "seq > N" and miss nothing. Consumers: cache invalidation after a Redis outage today; streams,
-- price history and webhooks later (issue 13).
--
-- No foreign key to markets: a deleted market's events stay, and an insert here takes no lock on
-- the market row. Retention (pruning old events) is not implemented yet; at a few hundred bytes an
-- event the table grows with trade volume until it is.
CREATE TABLE events (
  seq        bigserial PRIMARY KEY,
  type       text NOT NULL CHECK (type ~ '^[a-z]+\.[a-z]+$'),
  market_id  uuid,
  payload    jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- One market's events in order (a market's stream, its resume point).
CREATE INDEX events_market_seq_idx ON events (market_id, seq);
