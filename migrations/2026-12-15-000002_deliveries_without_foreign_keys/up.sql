-- Deliveries are written many per event in every batch; their foreign keys
-- cost two trigger look-ups per row, and the one to webhook_endpoints a
-- KEY SHARE lock on the same few endpoint rows from every batch (shared
-- row locks held by concurrent transactions become MultiXacts). The
-- statements that delete instead delete what the cascades did:
-- `endpoint remove` an endpoint's deliveries with it, the outbox's pruning
-- the deliveries of the events it deletes (and deliveries whose endpoint is
-- gone, which a batch racing a removal may have written).
ALTER TABLE webhook_deliveries
    DROP CONSTRAINT webhook_deliveries_endpoint_id_fkey,
    DROP CONSTRAINT webhook_deliveries_event_seq_fkey;

-- Claims change only unindexed columns (the lease, the attempt count): room
-- on each page lets those updates stay on it (HOT, no new index entries).
ALTER TABLE webhook_deliveries SET (fillfactor = 80);

-- Vacuums unthrottled and often (each clears the dead index entries that
-- claims would otherwise step over); ANALYZE rarely: the claim's plan no
-- longer depends on fresh statistics, and an ANALYZE holds back the
-- horizon below which those entries can be cleared at all.
ALTER TABLE webhook_deliveries SET (autovacuum_vacuum_cost_delay = 0,
                                    autovacuum_vacuum_scale_factor = 0.02,
                                    autovacuum_analyze_scale_factor = 0.2);
