-- The operators' console (board /console, docs/events.md): every replay of
-- inbound events and every resend or recovery of deliveries asked for
-- there is appended here: who, what, on what, how many, when.
CREATE TABLE console_actions (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    user_name text NOT NULL,
    action    text NOT NULL CHECK (action IN ('replay', 'replay_dead', 'resend', 'recover')),
    -- The event id, the source, or the endpoint (and event id or time).
    target    text NOT NULL CHECK (length(target) <= 600),
    -- Events re-queued or deliveries sent again.
    count     bigint NOT NULL
);
