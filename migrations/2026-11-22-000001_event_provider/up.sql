-- The provider travels with the event: ingest knows it when it verifies the
-- signature, so it stores it with the body, and the worker parses without
-- looking the source up again (a source's provider never changes).
ALTER TABLE webhook_events ADD COLUMN provider text
    CHECK (provider IN ('yeastar', 'dialpad', 'standard'));
UPDATE webhook_events w SET provider = s.provider FROM sources s WHERE s.name = w.source;
-- Events of a source that no longer exists cannot be parsed; they keep a NULL
-- provider and fail (then die) in the worker with that reason.
