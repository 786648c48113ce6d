ALTER TABLE extensions RESET (fillfactor);
ALTER TABLE call_legs RESET (fillfactor);
ALTER TABLE calls RESET (fillfactor);
CREATE INDEX calls_recent ON calls (updated_at DESC);
