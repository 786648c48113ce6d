DROP INDEX webhook_events_failing;
ALTER TABLE sources DROP COLUMN last_received_at;
DROP INDEX webhook_events_processed_brin;
