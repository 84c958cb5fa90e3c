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
-- not yet (or again not, after a moderator moved the close time later). The periodic sweep reads
-- the partial index below: only open, unannounced markets are in it, so the sweep costs an index
-- range of the markets that just closed, however many markets closed long ago.
ALTER TABLE markets ADD COLUMN close_announced_at timestamptz(3);
-- Markets that had already closed before this migration closed before there was an event for it:
-- they are not announced now (a first sweep would otherwise flood the log with old closes).
UPDATE markets SET close_announced_at = closes_at WHERE status = 'active' AND closes_at <= now();
CREATE INDEX markets_close_pending_idx ON markets (closes_at) WHERE status = 'active' AND close_announced_at IS NULL;
