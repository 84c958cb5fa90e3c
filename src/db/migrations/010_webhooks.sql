-- Webhook subscriptions and their deliveries (src/modules/webhooks). A subscription reads the
-- event log (006_events.sql) from its own cursor: `cursor_seq` is the last event it has dealt
-- with (delivered, dead-lettered, or skipped as not matching). The cursor moves in the same
-- transaction that records a delivery's outcome, so a crash between a receiver's 2xx and that
-- commit means the event is sent again (at least once), never lost.
--
-- The signing secret is stored as issued: the HMAC needs it (as Stripe does). After a rotation
-- the previous secret still signs (a second v1 in the header) until previous_secret_expires_at.
CREATE TABLE webhook_subscriptions (
  id                         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id                    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  url                        text NOT NULL CHECK (char_length(url) <= 2048),
  -- Known event types, `<prefix>.*` or `*` (webhook-event-types.ts).
  event_types                text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 20),
  -- NULL: every market (admins only).
  market_ids                 uuid[] CHECK (market_ids IS NULL OR cardinality(market_ids) BETWEEN 1 AND 100),
  secret                     text NOT NULL,
  previous_secret            text,
  previous_secret_expires_at timestamptz,
  cursor_seq                 bigint NOT NULL,
  status                     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  disabled_reason            text,
  -- Set by the first failed attempt after a success; a subscription failing for longer than
  -- WEBHOOK_DISABLE_AFTER_SECONDS is disabled.
  failing_since              timestamptz,
  -- While a delivery waits for its next attempt, nothing later is sent (order per subscription).
  retry_at                   timestamptz,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_user_idx ON webhook_subscriptions (user_id, created_at);
-- The dispatcher's scan: active subscriptions behind the log.
CREATE INDEX webhook_subscriptions_active_idx ON webhook_subscriptions (cursor_seq) WHERE status = 'active';

-- One row per (subscription, event): its attempts and outcome. `dead` rows are the dead letters
-- that GET /api/me/webhooks/:id/deliveries shows and the replay endpoint sends again.
CREATE TABLE webhook_deliveries (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  subscription_id  uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
  event_seq        bigint NOT NULL,
  event_type       text NOT NULL,
  status           text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  last_status_code integer,
  last_error       text CHECK (char_length(last_error) <= 1000),
  next_attempt_at  timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_attempt_at  timestamptz,
  delivered_at     timestamptz,
  UNIQUE (subscription_id, event_seq)
);
CREATE INDEX webhook_deliveries_status_idx ON webhook_deliveries (subscription_id, status, event_seq);
