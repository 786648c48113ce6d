DROP TABLE missed_call_actions;
DROP TABLE missed_calls;
