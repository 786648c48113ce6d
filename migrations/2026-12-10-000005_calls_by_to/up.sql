-- Serves the history search by number (the called side), the answered calls
-- to a number (issue 22). Built CONCURRENTLY, outside a transaction
-- (metadata.toml) and alone in its migration (PostgreSQL runs several
-- statements of one query as one transaction): on a large table a plain
-- CREATE INDEX would hold the projection's writes up for the whole build
-- while the previous version still runs. An interrupted build leaves an
-- INVALID index: drop it (DROP INDEX CONCURRENTLY calls_by_to) and migrate
-- again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS calls_by_to ON calls (to_number, (coalesce(started_at, created_at)), id) WHERE to_number IS NOT NULL;
