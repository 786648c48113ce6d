-- Serves the history search by extension (every call an extension had a
-- leg in, from call_id without reading the legs) and an agent's calls and
-- talk time today (answered_at) (issue 22). Built CONCURRENTLY, outside a
-- transaction (metadata.toml) and alone in its migration (PostgreSQL runs
-- several statements of one query as one transaction): on a large table a
-- plain CREATE INDEX would hold the projection's writes up for the whole
-- build while the previous version still runs. An interrupted build leaves
-- an INVALID index: drop it (DROP INDEX CONCURRENTLY call_legs_by_extension)
-- and migrate again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS call_legs_by_extension
    ON call_legs (extension, source, answered_at) INCLUDE (call_id) WHERE extension IS NOT NULL;
