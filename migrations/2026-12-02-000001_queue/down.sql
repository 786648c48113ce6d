-- Back to one inbox table (every event, with its state).
DROP VIEW webhook_events;
CREATE TABLE webhook_events (
    id              bigint PRIMARY KEY,
    source          text NOT NULL,
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
    provider        text CHECK (provider IN ('yeastar', 'dialpad', 'standard')),
    UNIQUE (source, dedup_key)
);
INSERT INTO webhook_events (id, source, event_type, body, headers, dedup_key, received_at,
                            processed_at, outcome, attempts, last_error, next_attempt_at, dead_at, provider)
SELECT e.id, e.source, coalesce(r.event_type, q.event_type), e.body, e.headers,
       e.dedup_key || CASE WHEN e.day < max(e.day) OVER (PARTITION BY e.source, e.dedup_key) THEN '@' || e.id ELSE '' END,
       e.received_at, r.processed_at, r.outcome, coalesce(r.attempts, q.attempts, 0),
       coalesce(q.last_error, r.last_error), q.next_attempt_at, q.dead_at, e.provider
  FROM events e
  LEFT JOIN event_queue q ON q.id = e.id
  LEFT JOIN event_results r ON r.id = e.id AND r.day = e.day;
ALTER SEQUENCE events_id_seq OWNED BY NONE;
ALTER SEQUENCE events_id_seq RENAME TO webhook_events_id_seq;
ALTER TABLE webhook_events ALTER COLUMN id SET DEFAULT nextval('webhook_events_id_seq');
ALTER SEQUENCE webhook_events_id_seq OWNED BY webhook_events.id;
DROP FUNCTION switchboard_prune(interval, boolean);
DROP FUNCTION switchboard_ensure_partitions(date, date);
DROP FUNCTION switchboard_revoke_all(text);
DROP TABLE event_results;
DROP TABLE event_queue;
DROP TABLE events;
CREATE INDEX webhook_events_pending ON webhook_events (id)
    WHERE processed_at IS NULL AND dead_at IS NULL;
CREATE INDEX webhook_events_processed_brin ON webhook_events USING brin (processed_at);
CREATE INDEX webhook_events_failing ON webhook_events (id)
    WHERE processed_at IS NULL AND last_error IS NOT NULL;
ALTER TABLE webhook_events SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
