-- Call control from the board (issue 23): supervisors, the extension each
-- board user listens from, and the audit of every kind of action.

-- supervisor: an operator who may also listen, whisper and barge in on
-- calls, and pause or resume queue agents.
ALTER TABLE board_users DROP CONSTRAINT board_users_role_known;
ALTER TABLE board_users ADD CONSTRAINT board_users_role_known
    CHECK (role IN ('viewer', 'operator', 'supervisor'));

-- The user's own extension (`worker user set-extension`): the phone a
-- supervisor listens, whispers or barges in from. NULL: none set.
ALTER TABLE board_users ADD COLUMN extension text
    CONSTRAINT board_users_extension_shape CHECK (extension ~ '^[0-9A-Za-z*#+_.-]{1,32}$');

-- Every kind of action is audited in call_actions. An action on an
-- extension (presence, agent pause) names no call: call_id and leg_id are
-- NULL and `extension` names it; `detail` says what was asked (the
-- transfer's target, the presence, the queue and reason).
--   unavailable   the source's phone system cannot do the action (why, in
--                 provider_answer): nothing was sent to it
ALTER TABLE call_actions ALTER COLUMN call_id DROP NOT NULL;
ALTER TABLE call_actions ALTER COLUMN leg_id DROP NOT NULL;
ALTER TABLE call_actions ADD COLUMN extension text;
ALTER TABLE call_actions ADD COLUMN detail text
    CONSTRAINT call_actions_detail_len CHECK (octet_length(detail) <= 512);
ALTER TABLE call_actions DROP CONSTRAINT call_actions_action;
ALTER TABLE call_actions ADD CONSTRAINT call_actions_action CHECK (action IN (
    'hangup', 'transfer', 'attended_transfer', 'transfer_complete', 'transfer_cancel',
    'park', 'hold', 'unhold', 'listen', 'whisper', 'barge', 'presence', 'pause', 'resume'));
ALTER TABLE call_actions DROP CONSTRAINT call_actions_outcome;
ALTER TABLE call_actions ADD CONSTRAINT call_actions_outcome CHECK (
    outcome IN ('ok', 'provider_error', 'timeout', 'unreachable', 'refused', 'no_api',
                'not_live', 'unavailable'));
ALTER TABLE call_actions ADD CONSTRAINT call_actions_target CHECK (
    (call_id IS NOT NULL AND leg_id IS NOT NULL) OR extension IS NOT NULL);
