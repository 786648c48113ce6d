DROP TABLE extension_devices;
ALTER TABLE extensions DROP COLUMN reported_at, DROP COLUMN leg_seen_at;
DROP TABLE queue_agents;
DROP TABLE queue_settings;
DROP TABLE call_queues;
ALTER TABLE call_legs DROP COLUMN call_start, DROP COLUMN call_outcome;
ALTER TABLE calls
    DROP COLUMN started_from_cdr,
    DROP COLUMN answered_from_cdr,
    DROP COLUMN failure_reason,
    DROP COLUMN failure_seq,
    DROP COLUMN outcome;
ALTER TABLE sources DROP COLUMN timezone;
