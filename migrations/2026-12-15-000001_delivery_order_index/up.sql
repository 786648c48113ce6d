-- The order index answers "the earliest pending delivery of this subject
-- to this endpoint" (the claim's head check, the run behind a head, the
-- successors a retry pushes). Its predicate is written so that only this
-- index can serve those probes: a probe that says `state <> 'delivered'
-- AND state <> 'failed'` cannot use the due index (WHERE state =
-- 'pending'; the planner cannot prove one from the other), which stale
-- statistics made it pick, filtering the endpoint's whole backlog per
-- probe (seen: 12,668 rows read per probe, claims of 60-125 ms).
DROP INDEX webhook_deliveries_order;
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, subject, event_seq)
    WHERE state <> 'delivered' AND state <> 'failed';
