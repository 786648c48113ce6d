ALTER TABLE webhook_events DROP COLUMN provider;
