DELETE FROM webhook_deliveries d
 WHERE NOT EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = d.endpoint_id)
    OR NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = d.event_seq);
ALTER TABLE webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_endpoint_id_fkey
        FOREIGN KEY (endpoint_id) REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    ADD CONSTRAINT webhook_deliveries_event_seq_fkey
        FOREIGN KEY (event_seq) REFERENCES outbox (seq) ON DELETE CASCADE;
ALTER TABLE webhook_deliveries RESET (fillfactor);
ALTER TABLE webhook_deliveries SET (autovacuum_analyze_scale_factor = 0.02,
                                    autovacuum_vacuum_scale_factor = 0.05);
ALTER TABLE webhook_deliveries RESET (autovacuum_vacuum_cost_delay);
