-- API token scopes: a token opens the read-only JSON API; with `stream` it
-- also opens the event stream (GET /api/stream, docs/events.md), set by
-- `worker token add NAME --stream`.
ALTER TABLE api_tokens ADD COLUMN stream boolean NOT NULL DEFAULT false;
