-- Every processed event leaves one dead tuple (the UPDATE that marks it
-- cannot be HOT: processed_at is in the pending index's predicate), and the
-- call, leg and extension rows are rewritten on every event. With the
-- default thresholds (20% of the table) a large inbox collects millions of
-- dead tuples between vacuums and the pending index bloats; vacuum these
-- tables after 1-2% churn instead, without cost-based throttling.
ALTER TABLE webhook_events SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
ALTER TABLE calls SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE call_legs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE extensions SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);
