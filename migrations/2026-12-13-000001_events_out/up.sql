-- Events out (docs/events.md): the normalized events the worker derives
-- from each batch's row changes (the outbox), the endpoints they are
-- delivered to, and one delivery per (endpoint, event).

-- The outbox: written in the transaction that applies a batch, so an event
-- exists exactly when its change committed. `seq` orders the events of one
-- subject (a call, an extension, an agent in a queue): they are written
-- under that subject's row lock. `xid` lets the stream serve only events
-- whose transactions are over (resume without gaps).
CREATE TABLE outbox (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    text NOT NULL UNIQUE CHECK (event_id ~ '^evt_[0-9a-f]{32}$'),
    type        text NOT NULL CHECK (type ~ '^[a-z]+\.[a-z_]+$'),
    source      text NOT NULL,
    -- The ordering key: 'call:SOURCE:ID', 'extension:SOURCE:N',
    -- 'agent:SOURCE:QUEUE:AGENT'.
    subject     text NOT NULL,
    occurred_at timestamptz NOT NULL,
    -- When ingest accepted the earliest webhook of the batch that wrote it
    -- (webhook accepted -> delivered, as `just bench` measures it).
    accepted_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    -- The body delivered: {"type", "timestamp", "data"}.
    payload     jsonb NOT NULL
);
CREATE INDEX outbox_by_created ON outbox (created_at);
CREATE INDEX outbox_by_xid ON outbox (xid, seq);

-- Endpoints: where events are delivered, signed per Standard Webhooks with
-- a secret sealed like the sources' (AES-256-GCM under SWITCHBOARD_SECRETS_KEY,
-- the endpoint's name as associated data). After `rotate-secret` the
-- previous secret signs alongside the new one until previous_until.
CREATE TABLE webhook_endpoints (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    url                 text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
    -- Type patterns ('call.*', 'extension.status_changed'); empty: every type.
    types               text[] NOT NULL DEFAULT '{}',
    -- Only this source's events; NULL: every source.
    source              text,
    allow_private       boolean NOT NULL DEFAULT false,
    enabled             boolean NOT NULL DEFAULT true,
    disabled_reason     text,
    key_id              text NOT NULL,
    nonce               bytea NOT NULL,
    ciphertext          bytea NOT NULL,
    previous_key_id     text,
    previous_nonce      bytea,
    previous_ciphertext bytea,
    previous_until      timestamptz,
    -- Since when every attempt failed (NULL after a success).
    failing_since       timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- One delivery per (endpoint, event). Pending ones are claimed when due,
-- never before the earlier pending deliveries of the same subject to the
-- same endpoint (order per call); a lease marks one in flight.
CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id      bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_seq        bigint NOT NULL REFERENCES outbox (seq) ON DELETE CASCADE,
    subject          text NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_at          timestamptz NOT NULL DEFAULT now(),
    leased_until     timestamptz,
    first_attempt_at timestamptz,
    last_attempt_at  timestamptz,
    last_status      integer,
    last_error       text,
    last_latency_ms  integer,
    response_excerpt text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    done_at          timestamptz,
    UNIQUE (endpoint_id, event_seq)
);
-- Claims walk each endpoint's pending deliveries in due order.
CREATE INDEX webhook_deliveries_due
    ON webhook_deliveries (endpoint_id, next_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order
    ON webhook_deliveries (endpoint_id, subject, event_seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_seq);
-- A busy table whose plans depend on fresh statistics.
ALTER TABLE webhook_deliveries SET (autovacuum_analyze_scale_factor = 0.02,
                                    autovacuum_vacuum_scale_factor = 0.05);
