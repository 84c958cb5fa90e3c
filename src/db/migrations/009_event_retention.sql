-- Retention of the event log (issue 13 item 2). Events older than EVENT_RETENTION_HOURS are
-- deleted by a periodic job (src/modules/events/event-retention.repository.ts), always as a
-- prefix of the log: every seq up to `pruned_through` may be gone, every event above it is kept.
-- A stream asked to resume from a seq below the watermark cannot replay what it missed and sends
-- one `reset` instead; a gap above it (a rolled-back append drew a seq) is not a reason to reset.
CREATE TABLE event_log_state (
  id             boolean PRIMARY KEY DEFAULT true CHECK (id),
  pruned_through bigint NOT NULL DEFAULT 0 CHECK (pruned_through >= 0)
);
INSERT INTO event_log_state DEFAULT VALUES;

-- Finds the newest event older than the retention without reading the whole table.
CREATE INDEX events_created_at_idx ON events (created_at);
