DROP INDEX webhook_deliveries_order;
CREATE INDEX webhook_deliveries_order
    ON webhook_deliveries (endpoint_id, subject, event_seq) WHERE state = 'pending';
