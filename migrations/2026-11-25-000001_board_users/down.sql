-- Drops the board's users and their password hashes.
DROP TABLE board_users;
