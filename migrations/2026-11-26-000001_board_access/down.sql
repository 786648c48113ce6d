DROP TABLE api_tokens;
DROP TABLE login_failures;
DROP TABLE board_sessions;
