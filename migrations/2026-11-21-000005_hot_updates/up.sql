-- Calls, legs and extensions are rewritten on nearly every event. Leave
-- room on each page and keep changing columns out of indexes, so that most
-- of those updates are HOT (no new index entries): calls_recent indexed
-- updated_at, which changes on every update; "recent calls" now orders by id.
DROP INDEX calls_recent;
ALTER TABLE calls SET (fillfactor = 85);
ALTER TABLE call_legs SET (fillfactor = 85);
ALTER TABLE extensions SET (fillfactor = 50);
