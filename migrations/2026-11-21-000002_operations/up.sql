-- Serves `worker stats` (processed in the last minute/hour) and `worker prune`
-- (processed before a cutoff). processed_at grows with time, so a BRIN index
-- is tiny and cheap to maintain.
CREATE INDEX webhook_events_processed_brin ON webhook_events USING brin (processed_at);

-- Serves "last event received per source".
CREATE INDEX webhook_events_source_received ON webhook_events (source, received_at);

-- Serves the retrying/dead counts and their latest errors: only failing rows.
CREATE INDEX webhook_events_failing ON webhook_events (id)
    WHERE processed_at IS NULL AND last_error IS NOT NULL;
