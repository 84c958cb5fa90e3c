-- Sign-ups per client address over the last day, for REGISTRATIONS_PER_IP_PER_DAY and
-- SIGNUP_GRANTS_PER_IP_PER_DAY. Kept in the database so the limits hold across instances and
-- restarts. Only a SHA-256 of the address (IPv6 by /64) is stored, with no link to the account;
-- rows older than a day are deleted as new sign-ups come in.
CREATE TABLE registrations (
  ip_hash     text NOT NULL CHECK (char_length(ip_hash) = 64),
  granted     boolean NOT NULL,
  created_at  timestamptz(3) NOT NULL DEFAULT now()
);
CREATE INDEX registrations_ip_created_idx ON registrations (ip_hash, created_at);
CREATE INDEX registrations_created_idx ON registrations (created_at);
