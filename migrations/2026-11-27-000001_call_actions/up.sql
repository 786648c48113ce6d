-- Acting on calls through the phone systems' own APIs (issue 11): per
-- source API settings, and the audit of every action an operator asked for.

-- How the board reaches a source's phone system (`worker source set-api`).
-- The credentials (Yeastar: client id and client secret; Dialpad: the API
-- key) are sealed together, as one JSON document, exactly like the signing
-- secrets of `source_secrets`: AES-256-GCM under the key named by key_id
-- (the first 8 hex digits of SHA-256 of SWITCHBOARD_SECRETS_KEY), a random
-- 96-bit nonce, and `api:<source>` as associated data (so that a row copied
-- to another source, or a signing secret copied here, does not open);
-- ciphertext carries the 16-byte tag. fingerprint = HMAC-SHA256 of the
-- same, under a key derived from the same key: `source list` shows 8 hex
-- digits of it, which tell two settings apart and reveal nothing.
-- client_hint is the first 4 characters of a Yeastar client id followed
-- by an ellipsis (NULL for Dialpad): enough for an operator to recognise
-- the PBX's API client, never the whole id.
CREATE TABLE source_apis (
    source       text PRIMARY KEY REFERENCES sources (name),
    provider     text NOT NULL CONSTRAINT source_apis_provider CHECK (provider IN ('yeastar', 'dialpad')),
    base_url     text NOT NULL CONSTRAINT source_apis_base_url CHECK (base_url ~ '^https?://[^/?#@[:space:]]+(/[^?#[:space:]]*)?$'),
    client_hint  text,
    ciphertext   bytea NOT NULL CONSTRAINT source_apis_ciphertext CHECK (octet_length(ciphertext) > 16),
    nonce        bytea NOT NULL CONSTRAINT source_apis_nonce CHECK (octet_length(nonce) = 12),
    key_id       text NOT NULL CONSTRAINT source_apis_key_id CHECK (key_id ~ '^[0-9a-f]{8}$'),
    fingerprint  bytea NOT NULL CONSTRAINT source_apis_fingerprint CHECK (octet_length(fingerprint) = 32),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per action an operator asked for on the board, whatever came of
-- it (`worker audit` lists them). Written by the board once the outcome is
-- known; never changed or deleted by the application.
--   ok              the provider accepted the action
--   provider_error  the provider answered with an error (wrong credentials,
--                   unknown channel, ...): provider_answer holds it
--   timeout         no answer within BOARD_ACTION_TIMEOUT (the provider may
--                   or may not have acted)
--   unreachable     no connection to the provider (after one retry)
--   refused         the board refused before asking the provider: another
--                   action on the call in flight, an unknown leg, a leg
--                   without the provider's handle
--   no_api          the source has no API settings, or the board cannot
--                   open them (no SWITCHBOARD_SECRETS_KEY)
--   not_live        the leg had already ended
-- No foreign keys: the audit outlives what it names, and records attempts
-- on sources and calls that do not exist.
CREATE TABLE call_actions (
    id               bigserial PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    -- The board user who asked.
    user_name        text NOT NULL,
    source           text NOT NULL,
    call_id          text NOT NULL,
    leg_id           text NOT NULL,
    -- The Yeastar channel the hang-up named, when there was one.
    channel_id       text,
    action           text NOT NULL DEFAULT 'hangup' CONSTRAINT call_actions_action CHECK (action IN ('hangup')),
    outcome          text NOT NULL CONSTRAINT call_actions_outcome CHECK (
                         outcome IN ('ok', 'provider_error', 'timeout', 'unreachable', 'refused', 'no_api', 'not_live')),
    -- What the provider answered (Yeastar: errcode and errmsg; Dialpad: the
    -- HTTP status and body), or why the board refused; at most 2 KB. Never
    -- a credential or a token.
    provider_answer  text CONSTRAINT call_actions_answer_len CHECK (octet_length(provider_answer) <= 2048),
    -- From the request to the outcome.
    duration_ms      integer
);
CREATE INDEX call_actions_source ON call_actions (source, id);
CREATE INDEX call_actions_call ON call_actions (source, call_id);
