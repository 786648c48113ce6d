-- Every inbox insert checked its source with a foreign key, which takes a
-- KEY SHARE lock on the one sources row per insert: under concurrent ingest
-- those shared locks pile up as multixacts on a single hot row. Ingest checks
-- the source itself (and sources are disabled, never deleted), so the
-- constraint goes. Likewise legs are only written by the worker after their
-- call row is locked in the same transaction.
ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_source_fkey;
ALTER TABLE call_legs DROP CONSTRAINT call_legs_source_call_id_fkey;
