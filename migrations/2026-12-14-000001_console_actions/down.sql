DROP TABLE console_actions;
