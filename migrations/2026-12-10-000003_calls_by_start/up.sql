-- Serves the history search in time order (keyset on start, id), and the
-- time range filter (issue 22). Built CONCURRENTLY, outside a transaction
-- (metadata.toml) and alone in its migration (PostgreSQL runs several
-- statements of one query as one transaction): on a large table a plain
-- CREATE INDEX would hold the projection's writes up for the whole build
-- while the previous version still runs. An interrupted build leaves an
-- INVALID index: drop it (DROP INDEX CONCURRENTLY calls_by_start) and
-- migrate again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS calls_by_start ON calls ((coalesce(started_at, created_at)), id);
