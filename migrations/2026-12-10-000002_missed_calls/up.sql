-- Missed calls to return (issue 22): the "to call back" list, kept across
-- restarts, one entry per source and outside number.
--
-- An entry counts the calls from that number that nobody answered
-- (calls.outcome abandoned, no_answer, busy, failed or voicemail; inbound
-- only) and that started after both the latest answered call with that
-- number (in either direction) and what an operator marked done. The worker
-- recomputes an entry from `calls` (under the entry's row lock) whenever a
-- call with that number changes in a way that matters, so the entry is the
-- same whatever order the events came in. missed_count = 0: not on the list
-- (the row stays, to keep done_through).
CREATE TABLE missed_calls (
    id            bigserial PRIMARY KEY,
    source        text NOT NULL,
    number        text NOT NULL,
    missed_count  integer NOT NULL DEFAULT 0,
    -- Of the missed calls counted: the first and latest start, the latest
    -- call and why it was missed (calls.outcome).
    first_at      timestamptz,
    last_at       timestamptz,
    last_call_id  text,
    last_reason   text,
    -- The latest answered call with this number (its start).
    answered_at   timestamptz,
    -- Marked done on the board: missed calls that started at or before
    -- done_through leave the list; who and when.
    done_through  timestamptz,
    done_at       timestamptz,
    done_by       text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, number)
) WITH (fillfactor = 85);
-- The list: open entries, newest first.
CREATE INDEX missed_calls_open ON missed_calls (source, last_at) WHERE missed_count > 0;

-- The audit of operators' actions on the list (one row per "done"), apart
-- from call_actions (whose rows name a call leg and a provider's answer).
-- Written by the board in the transaction that marks the entry; read by
-- `worker audit --missed`; never changed or deleted by the application.
CREATE TABLE missed_call_actions (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    user_name     text NOT NULL,
    source        text NOT NULL,
    number        text NOT NULL,
    action        text NOT NULL DEFAULT 'done' CONSTRAINT missed_call_actions_action CHECK (action IN ('done')),
    -- What the operator cleared: how many calls, up to which start, the
    -- latest of them.
    missed_count  integer NOT NULL,
    done_through  timestamptz,
    last_call_id  text
);
CREATE INDEX missed_call_actions_source ON missed_call_actions (source, id);
