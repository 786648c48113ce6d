-- Sources: one per sender (a PBX, a Dialpad company, a generic sender).
CREATE TABLE sources (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    provider    text NOT NULL CHECK (provider IN ('yeastar', 'dialpad', 'standard')),
    enabled     boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Signing secrets: every active secret of a source is accepted, so a secret
-- can be rotated by adding the new one, switching the sender, then revoking
-- the old one.
CREATE TABLE source_secrets (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL REFERENCES sources (name) ON DELETE CASCADE,
    secret      text NOT NULL CHECK (secret <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    UNIQUE (source, secret)
);

-- The inbox: raw webhooks exactly as received. processed_at NULL = pending.
CREATE TABLE webhook_events (
    id              bigserial PRIMARY KEY,
    source          text NOT NULL REFERENCES sources (name) ON UPDATE CASCADE,
    event_type      text,
    body            bytea NOT NULL,
    headers         jsonb NOT NULL DEFAULT '{}',
    dedup_key       text NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    outcome         text CHECK (outcome IN ('applied', 'ignored')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz,
    dead_at         timestamptz,
    UNIQUE (source, dedup_key)
);

-- Serves the claim: pending, not dead, oldest first.
CREATE INDEX webhook_events_pending ON webhook_events (id)
    WHERE processed_at IS NULL AND dead_at IS NULL;

-- Calls: one row per conversation.
CREATE TABLE calls (
    id              bigserial PRIMARY KEY,
    source          text NOT NULL,
    call_id         text NOT NULL,
    status          text NOT NULL CHECK (status IN ('ringing', 'active', 'ended')),
    direction       text,
    from_number     text,
    to_number       text,
    info_seq        bigint,
    started_at      timestamptz,
    answered_at     timestamptz,
    ended_at        timestamptz,
    talk_seconds    integer,
    duration_seconds integer,
    disposition     text,
    recording_url   text,
    -- Events applied to this call: each inbox event counts once.
    events          integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, call_id)
);
CREATE INDEX calls_recent ON calls (updated_at DESC);

-- Call legs: one row per party of a call (an extension, a trunk, a Dialpad
-- user or call center), each with its own state.
CREATE TABLE call_legs (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,
    call_id     text NOT NULL,
    leg_id      text NOT NULL,
    kind        text NOT NULL,
    extension   text,
    party       text,
    state       text NOT NULL CHECK (state IN ('ringing', 'incall', 'ended')),
    on_hold     boolean NOT NULL DEFAULT false,
    hold_seq    bigint,
    started_at  timestamptz,
    answered_at timestamptz,
    ended_at    timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, call_id, leg_id),
    FOREIGN KEY (source, call_id) REFERENCES calls (source, call_id)
);
-- Serves the extension status derivation: the live legs of an extension.
CREATE INDEX call_legs_live_by_extension ON call_legs (source, extension)
    WHERE state <> 'ended' AND extension IS NOT NULL;

-- Extensions: live status shown to people.
CREATE TABLE extensions (
    id              bigserial PRIMARY KEY,
    source          text NOT NULL,
    number          text NOT NULL,
    name            text,
    status          text NOT NULL DEFAULT 'online'
                    CHECK (status IN ('ringing', 'incall', 'online', 'offline')),
    registered      boolean,
    registered_seq  bigint,
    reported_status text,
    reported_seq    bigint,
    last_seen       timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, number)
);
