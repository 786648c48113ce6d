-- Board users: the people who may log in to the browser board (not built
-- yet). They are managed with `worker user add|list|disable`.
--
-- Only an Argon2id hash of the password is kept, in the PHC string format
-- (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`), so the parameters travel
-- with each hash and can be raised later without a migration; the check
-- refuses anything else (a plaintext password written by mistake).
--
-- A user is disabled, never deleted: the row stays for the audit trail a
-- board will want, and a disabled name cannot be silently reused by someone
-- else. Re-adding the name (`worker user add`) sets a new password and role
-- and enables it again.
CREATE TABLE board_users (
    id            bigserial PRIMARY KEY,
    -- A login name: lower case, so that "Alice" and "alice" are not two
    -- users, and plain enough to show in logs and URLs without escaping.
    name          text NOT NULL UNIQUE
        CONSTRAINT board_users_name_shape CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    -- viewer: sees the board; operator: may also act on calls.
    role          text NOT NULL
        CONSTRAINT board_users_role_known CHECK (role IN ('viewer', 'operator')),
    password_hash text NOT NULL
        CONSTRAINT board_users_password_hash_argon2id CHECK (password_hash LIKE '$argon2id$%'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- NULL: may log in.
    disabled_at   timestamptz
);
