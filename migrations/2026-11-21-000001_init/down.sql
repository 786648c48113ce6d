DROP TABLE extensions;
DROP TABLE call_legs;
DROP TABLE calls;
DROP TABLE webhook_events;
DROP TABLE source_secrets;
DROP TABLE sources;
