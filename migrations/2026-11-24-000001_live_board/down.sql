DROP TABLE csta_calls;
ALTER TABLE call_legs DROP COLUMN channel_id;
ALTER TABLE extensions DROP COLUMN presence_seq;
ALTER TABLE extensions DROP COLUMN presence;
