-- Accounts: passwords, sessions (rotating refresh tokens) and API keys.

-- NULL for users who never set a password: created by `npm run token` or by an external identity provider.
ALTER TABLE users ADD COLUMN password_hash text CHECK (char_length(password_hash) <= 500);
-- Who vouches for a user signed in through an external provider (JWT_JWKS_URL): its `iss` and `sub`.
ALTER TABLE users ADD COLUMN external_issuer text CHECK (char_length(external_issuer) <= 500);
ALTER TABLE users ADD COLUMN external_subject text CHECK (char_length(external_subject) <= 500);
CREATE UNIQUE INDEX users_external_identity_key ON users (external_issuer, external_subject)
  WHERE external_subject IS NOT NULL;
-- The last-admin check counts admins under a lock; this keeps that count cheap.
CREATE INDEX users_role_idx ON users (role);

-- One row per refresh token ever issued. A login starts a family; each refresh marks its token
-- used and issues the next one in the same family. Presenting a used token again means it was
-- copied: the whole family is revoked. Only a SHA-256 of the token is stored.
CREATE TABLE refresh_tokens (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  family_id   uuid NOT NULL,
  user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_hash  text NOT NULL UNIQUE,
  expires_at  timestamptz(3) NOT NULL,
  used_at     timestamptz(3),
  revoked_at  timestamptz(3),
  created_at  timestamptz(3) NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

-- API keys for bots and scripts. The key is shown once; we keep its SHA-256 (a 256-bit random
-- secret needs no slow hash) and a short prefix so its owner can recognise it in a list.
CREATE TABLE api_keys (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  prefix        text NOT NULL CHECK (char_length(prefix) <= 32),
  key_hash      text NOT NULL UNIQUE,
  created_at    timestamptz(3) NOT NULL DEFAULT now(),
  last_used_at  timestamptz(3),
  revoked_at    timestamptz(3)
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at);
