-- Scoped, expiring API keys. A key's scopes name what it may be used for (src/modules/auth/scopes.ts);
-- at each use they are cut down to what the owner's current role allows.
-- Keys made before scopes existed could do everything their owner's role allowed: they get every
-- scope, which the role ceiling cuts to exactly that. New keys always name their scopes.
ALTER TABLE api_keys ADD COLUMN scopes text[] NOT NULL
  DEFAULT '{read,trade,markets:write,comments:write,account:write,keys:write,webhooks:write,admin}';
ALTER TABLE api_keys ALTER COLUMN scopes DROP DEFAULT;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_known
  CHECK (scopes <@ '{read,trade,markets:write,comments:write,account:write,keys:write,webhooks:write,admin}'::text[]);
-- NULL: the key does not expire (it still can be revoked).
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz(3);
