-- Serves the history search by extension (every call an extension had a
-- leg in, newest first by the call's start, by disposition too, without
-- reading the calls to filter or order) and an agent's calls and talk time
-- today (issue 22). Built CONCURRENTLY, outside a transaction
-- (metadata.toml) and alone in its migration (PostgreSQL runs several
-- statements of one query as one transaction): on a large table a plain
-- CREATE INDEX would hold the projection's writes up for the whole build
-- while the previous version still runs. An interrupted build leaves an
-- INVALID index: drop it (DROP INDEX CONCURRENTLY call_legs_by_extension)
-- and migrate again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS call_legs_by_extension
    ON call_legs (extension, call_start) INCLUDE (source, call_id, call_outcome, answered_at)
    WHERE extension IS NOT NULL;
