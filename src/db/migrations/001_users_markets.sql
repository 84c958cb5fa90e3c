-- Users: identity baseline. Email is unique case-insensitively.
CREATE TABLE users (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email       text NOT NULL CHECK (char_length(email) <= 320),
  name        text NOT NULL CHECK (char_length(name) <= 200),
  role        text NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'moderator', 'user')),
  created_at  timestamptz(3) NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- Markets. Timestamps keep millisecond precision so keyset cursors round-trip exactly through JSON.
-- Money (volume) is an integer count of cents; probability is a derived price, not money.
CREATE TABLE markets (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  slug         text NOT NULL UNIQUE CHECK (char_length(slug) <= 120),
  name         text NOT NULL CHECK (char_length(name) BETWEEN 3 AND 200),
  description  text NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
  category     text NOT NULL,
  tags         text[] NOT NULL DEFAULT '{}',
  status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed', 'resolved', 'cancelled')),
  closes_at    timestamptz(3) NOT NULL,
  creator_id   uuid NOT NULL REFERENCES users (id),
  probability  double precision NOT NULL DEFAULT 0.5 CHECK (probability > 0 AND probability < 1),
  volume       bigint NOT NULL DEFAULT 0 CHECK (volume >= 0),
  outcome      text CHECK (outcome IN ('YES', 'NO')),
  resolved_at  timestamptz(3),
  created_at   timestamptz(3) NOT NULL DEFAULT now(),
  updated_at   timestamptz(3) NOT NULL DEFAULT now(),
  version      integer NOT NULL DEFAULT 1
);

-- One index per sort key (id breaks ties, matching the keyset cursor), and the same behind
-- `status`, the filter nearly every list request carries. Other filters have their own index.
CREATE INDEX markets_volume_idx ON markets (volume, id);
CREATE INDEX markets_created_at_idx ON markets (created_at, id);
CREATE INDEX markets_closes_at_idx ON markets (closes_at, id);
CREATE INDEX markets_probability_idx ON markets (probability, id);
CREATE INDEX markets_name_idx ON markets (name, id);
CREATE INDEX markets_status_volume_idx ON markets (status, volume, id);
CREATE INDEX markets_status_created_at_idx ON markets (status, created_at, id);
CREATE INDEX markets_status_closes_at_idx ON markets (status, closes_at, id);
CREATE INDEX markets_status_probability_idx ON markets (status, probability, id);
CREATE INDEX markets_status_name_idx ON markets (status, name, id);
CREATE INDEX markets_category_volume_idx ON markets (category, volume, id);
CREATE INDEX markets_creator_created_at_idx ON markets (creator_id, created_at, id);
CREATE INDEX markets_tags_idx ON markets USING gin (tags);
