-- The live board.
--
-- Presence (Yeastar 30009: available, away, do not disturb, ...) is what a
-- person set, not what their phone does: it is kept beside the derived
-- `status`, never mixed into it. NULL = never reported. Like
-- `reported_status`, the last event by sequence wins (`presence_seq`).
ALTER TABLE extensions ADD COLUMN presence text;
ALTER TABLE extensions ADD COLUMN presence_seq bigint;

-- The provider's handle of a leg, to hang it up through the PBX API
-- (Yeastar `call/hangup` takes the member's `channel_id`). Yeastar legs are
-- keyed by it already when the member has one; it gets its own column so
-- that readers need not know how leg ids are built. NULL for Dialpad legs
-- (their leg id is the Dialpad call id the hang-up API takes) and for
-- members without one. The first non-empty value wins.
ALTER TABLE call_legs ADD COLUMN channel_id text;

-- uaCSTA call reports (Yeastar 30020). Their `call_id` is a different id
-- space from the 30011 call ids, so they cannot be stored on `calls`
-- without inventing phantom calls (which would show as ringing forever);
-- they get their own table and touch no call, leg or extension state, so
-- they can never contradict 30011. One row per uaCSTA call: the last
-- operation by sequence (`call_over` is final), with the extension and
-- phone address the uaCSTA hang-up API needs.
CREATE TABLE csta_calls (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,
    call_id     text NOT NULL,
    csta_event  text NOT NULL,
    csta_seq    bigint NOT NULL,
    extension   text,
    ip_address  text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, call_id)
);
