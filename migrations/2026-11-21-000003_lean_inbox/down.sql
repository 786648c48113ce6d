ALTER TABLE call_legs ADD FOREIGN KEY (source, call_id) REFERENCES calls (source, call_id);
ALTER TABLE webhook_events ADD FOREIGN KEY (source) REFERENCES sources (name) ON UPDATE CASCADE;
