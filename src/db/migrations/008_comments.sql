-- Comments on markets (issue 13 item 6) and the once-only market.closed announcement (item 1).
--
-- A comment is plain text, never markup the service interprets. Deleting one leaves a tombstone
-- (text NULL, deleted_at set), so its replies keep their parent and the thread stays readable.
-- Replies are one level deep: reply_to names a top-level comment of the same market (checked by
-- the service inside the inserting transaction, under a share lock on the parent).
CREATE TABLE comments (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  market_id   uuid NOT NULL REFERENCES markets (id) ON DELETE CASCADE,
  author_id   uuid REFERENCES users (id) ON DELETE SET NULL,
  reply_to    uuid REFERENCES comments (id) ON DELETE CASCADE,
  text        text CHECK (char_length(text) BETWEEN 1 AND 2000),
  -- Millisecond precision, as a cursor carries it (a JavaScript Date), so keyset pages are exact.
  created_at  timestamptz(3) NOT NULL DEFAULT clock_timestamp(),
  deleted_at  timestamptz(3),
  deleted_by  uuid REFERENCES users (id) ON DELETE SET NULL,
  CHECK ((text IS NULL) = (deleted_at IS NOT NULL))
);
-- A market's comments in time order, either direction (the list and its cursor pages).
CREATE INDEX comments_market_created_idx ON comments (market_id, created_at, id);
-- The replies of a comment (the foreign key's cascade, the "is this a reply" look-up).
CREATE INDEX comments_reply_to_idx ON comments (reply_to) WHERE reply_to IS NOT NULL;

-- When the market.closed event of an active market past its close time was appended; NULL while
-- not yet (or again not, after a moderator moved the close time later).
ALTER TABLE markets ADD COLUMN close_announced_at timestamptz(3);
-- Markets that had already closed before this migration closed before there was an event for it:
-- they are not announced now (a first sweep would otherwise flood the log with old closes).
UPDATE markets SET close_announced_at = closes_at WHERE status = 'active' AND closes_at <= now();
-- The close time of an active market whose close is not announced yet, NULL for every other
-- market: the periodic sweep asks for "close_due_at <= now()", which only the index below can
-- answer, and that index holds only open, unannounced markets. So a sweep costs an index range of
-- the markets that just closed, however many closed long ago and stay unresolved. (A partial
-- index on closes_at alone lost to markets_status_closes_at_idx in the planner, which then read
-- every closed, unresolved market on each sweep.)
ALTER TABLE markets ADD COLUMN close_due_at timestamptz(3)
  GENERATED ALWAYS AS (CASE WHEN status = 'active' AND close_announced_at IS NULL THEN closes_at END) STORED;
CREATE INDEX markets_close_due_idx ON markets (close_due_at) WHERE close_due_at IS NOT NULL;
