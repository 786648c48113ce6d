-- Access to the browser board: sessions, login failures (for the rate
-- limit), and read-only API tokens for wallboards and CRMs.
--
-- Nothing secret is stored in the clear: a session cookie and an API token
-- are 32 random bytes; the tables keep only their SHA-256, so a copy of the
-- database opens no board. (A slow hash is not needed: the values are
-- random, not chosen by people.)

CREATE TABLE board_sessions (
    -- SHA-256 of the cookie's value.
    token_hash   bytea PRIMARY KEY CONSTRAINT board_sessions_hash_len CHECK (octet_length(token_hash) = 32),
    user_id      bigint NOT NULL REFERENCES board_users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    -- The address the session was opened from (for the operator's eyes).
    address      inet
);
CREATE INDEX board_sessions_user ON board_sessions (user_id);
CREATE INDEX board_sessions_expires ON board_sessions (expires_at);

-- One row per failed login. The board counts recent rows per user name and
-- per address to refuse further attempts for a while; every instance
-- behind the load balancer sees the same counts. Rows older than the
-- window are deleted as new ones arrive.
CREATE TABLE login_failures (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    -- As typed, lower-cased and cut to 64 characters.
    username  text NOT NULL,
    address   inet
);
CREATE INDEX login_failures_username ON login_failures (username, at);
CREATE INDEX login_failures_address ON login_failures (address, at);
CREATE INDEX login_failures_at ON login_failures (at);

-- Read-only API tokens (`worker token add|list|revoke`).
CREATE TABLE api_tokens (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE
        CONSTRAINT api_tokens_name_shape CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    -- SHA-256 of the token.
    token_hash    bytea NOT NULL UNIQUE CONSTRAINT api_tokens_hash_len CHECK (octet_length(token_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    -- NULL: valid.
    revoked_at    timestamptz
);
