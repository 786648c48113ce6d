-- Serves `worker stats` (processed in the last minute/hour) and `worker prune`
-- (processed before a cutoff). processed_at grows with time, so a BRIN index
-- is tiny and cheap to maintain.
CREATE INDEX webhook_events_processed_brin ON webhook_events USING brin (processed_at);

-- "Last event received per source", kept by ingest (at most once a second
-- per source) rather than by an index every inbox row would pay for.
ALTER TABLE sources ADD COLUMN last_received_at timestamptz;

-- Serves the retrying/dead counts and their latest errors: only failing rows.
CREATE INDEX webhook_events_failing ON webhook_events (id)
    WHERE processed_at IS NULL AND last_error IS NOT NULL;
