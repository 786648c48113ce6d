DROP TABLE call_actions;
DROP TABLE source_apis;
