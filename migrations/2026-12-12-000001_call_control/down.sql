DELETE FROM call_actions WHERE call_id IS NULL OR leg_id IS NULL;
ALTER TABLE call_actions DROP CONSTRAINT call_actions_target;
ALTER TABLE call_actions DROP CONSTRAINT call_actions_outcome;
DELETE FROM call_actions WHERE outcome = 'unavailable';
ALTER TABLE call_actions ADD CONSTRAINT call_actions_outcome CHECK (
    outcome IN ('ok', 'provider_error', 'timeout', 'unreachable', 'refused', 'no_api', 'not_live'));
ALTER TABLE call_actions DROP CONSTRAINT call_actions_action;
DELETE FROM call_actions WHERE action <> 'hangup';
ALTER TABLE call_actions ADD CONSTRAINT call_actions_action CHECK (action IN ('hangup'));
ALTER TABLE call_actions DROP COLUMN detail;
ALTER TABLE call_actions DROP COLUMN extension;
ALTER TABLE call_actions ALTER COLUMN leg_id SET NOT NULL;
ALTER TABLE call_actions ALTER COLUMN call_id SET NOT NULL;
ALTER TABLE board_users DROP COLUMN extension;
UPDATE board_users SET role = 'operator' WHERE role = 'supervisor';
ALTER TABLE board_users DROP CONSTRAINT board_users_role_known;
ALTER TABLE board_users ADD CONSTRAINT board_users_role_known CHECK (role IN ('viewer', 'operator'));
