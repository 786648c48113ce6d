-- What a call-centre supervisor watches (issue 22): queues, agents, device
-- registrations, the PBX's own extension status, failure reasons, and
-- calls known only from their CDR. Additive only: every column is new and
-- nullable or has a constant default (no table rewrite), every table is
-- new, so the previous version's binaries keep working while both run.

-- The PBX's wall clock. Yeastar's CDR gives `time_start` in the PBX's local
-- time without a zone, and "today" on the board is the PBX's day: both are
-- read in this IANA zone (`worker source set-timezone NAME ZONE`, checked
-- against PostgreSQL's zone list there; the shape check here only keeps
-- text that is no zone name out).
ALTER TABLE sources ADD COLUMN timezone text NOT NULL DEFAULT 'UTC'
    CONSTRAINT sources_timezone_shape CHECK (timezone ~ '^[A-Za-z][A-Za-z0-9_+/-]{0,63}$');

-- Calls.
--   started_from_cdr, answered_from_cdr: started_at / answered_at were
--     derived from the CDR (`time_start` in the source's zone, plus the ring
--     time) because no live event gave them; a live event's time replaces
--     them whatever the order (domain::merge::merge_call).
--   failure_reason: Yeastar 30015's `reason` ("User Busy", "486 Busy
--     here", ...), as sent; the earliest failure event by sequence wins
--     (failure_seq).
--   outcome: derived on every write: NULL while nobody answered and the call
--     goes on; 'answered' once a person answered; when it ended unanswered,
--     why: 'abandoned' (the caller hung up waiting in a queue), 'no_answer',
--     'busy', 'failed', 'voicemail'. The history search and the missed calls
--     read it.
ALTER TABLE calls
    ADD COLUMN started_from_cdr boolean NOT NULL DEFAULT false,
    ADD COLUMN answered_from_cdr boolean NOT NULL DEFAULT false,
    ADD COLUMN failure_reason text,
    ADD COLUMN failure_seq bigint,
    ADD COLUMN outcome text CONSTRAINT calls_outcome CHECK (
        outcome IN ('answered', 'abandoned', 'no_answer', 'busy', 'failed', 'voicemail'));

-- Call legs carry their call's start and outcome (copied by the worker
-- whenever they change), so that the history of an extension's calls, in
-- order of the calls' start and by disposition, reads one index
-- (call_legs_by_extension) instead of looking every leg's call up. NULL on
-- legs the previous version wrote.
ALTER TABLE call_legs
    ADD COLUMN call_start timestamptz,
    ADD COLUMN call_outcome text;

-- Queue membership of calls: one row per queue (or ring group) a call went
-- through, Yeastar 30011's member `call_path` (`queue-6402` kept as `6402`)
-- or a Dialpad call centre leg. Raw facts are merged (earliest entered_at,
-- earliest connected_at); the rest is derived from the call and its legs on
-- every write of the call (domain::merge::derive_queues):
--   answered_at, agent: the first answer by a person (a leg of an extension
--     other than the caller) while this was the call's queue, or the call
--     centre leg's own answer (connected_at);
--   ended_at: the call's end;
--   outcome: 'waiting' (the call's latest queue, nobody answered, the call
--     goes on), 'answered', 'abandoned' (ended while waiting), 'left' (moved
--     on to another queue unanswered, as from an IVR).
-- Written by the worker under the call's lock, like call_legs.
CREATE TABLE call_queues (
    id            bigserial PRIMARY KEY,
    source        text NOT NULL,
    call_id       text NOT NULL,
    queue         text NOT NULL,
    entered_at    timestamptz NOT NULL,
    connected_at  timestamptz,
    answered_at   timestamptz,
    agent         text,
    ended_at      timestamptz,
    outcome       text NOT NULL CONSTRAINT call_queues_outcome CHECK (
                      outcome IN ('waiting', 'answered', 'abandoned', 'left')),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, call_id, queue)
) WITH (fillfactor = 85);
-- The board's queue panel (who waits now, today's figures per queue) and the
-- history search by queue.
CREATE INDEX call_queues_waiting ON call_queues (source, queue) WHERE outcome = 'waiting';
CREATE INDEX call_queues_by_queue ON call_queues (queue, source, entered_at);
-- The queues a source's calls entered today.
CREATE INDEX call_queues_by_day ON call_queues (source, entered_at);

-- Per-queue settings an operator sets (`worker queue set-sla`). A queue
-- without a row has the defaults (service level: answered within 20 s).
CREATE TABLE queue_settings (
    source       text NOT NULL,
    queue        text NOT NULL,
    sla_seconds  integer NOT NULL CONSTRAINT queue_settings_sla CHECK (sla_seconds BETWEEN 1 AND 3600),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, queue)
);

-- Agents per queue: what the PBX reports about an agent in a queue (Yeastar
-- 30029 status and reason, 30025 auto-pause after missed calls; Dialpad's
-- `on_duty_status` for each of its `call_center_ids`, queue '' when it names
-- none). status: available, paused, wrapup, incall, ringing, loggedout, or
-- `unknown:<word>` for any other word (kept, never guessed); NULL = never
-- reported. The last report by sequence wins (status_seq). The ring
-- timeout (Yeastar 30026) is kept beside it, last by sequence. Ringing and
-- in call are also derived from the agent's legs when the board reads.
CREATE TABLE queue_agents (
    id                 bigserial PRIMARY KEY,
    source             text NOT NULL,
    queue              text NOT NULL,
    agent              text NOT NULL,
    status             text CONSTRAINT queue_agents_status CHECK (
                           status IN ('available', 'paused', 'wrapup', 'incall', 'ringing', 'loggedout')
                           OR status LIKE 'unknown:%'),
    reason             text,
    status_seq         bigint,
    status_at          timestamptz,
    ring_timeout_at    timestamptz,
    ring_timeout_call  text,
    ring_timeout_seq   bigint,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, queue, agent)
);
CREATE INDEX queue_agents_agent ON queue_agents (source, agent);

-- Extensions.
--   reported_at: when the PBX reported `reported_status` (Yeastar 30008
--     Ringing/Busy/Idle). It is shown only when no leg of the extension is
--     live and it is newer than leg_seen_at.
--   leg_seen_at: the latest time of a call event naming one of the
--     extension's legs (the most recent word the call events gave).
ALTER TABLE extensions
    ADD COLUMN reported_at timestamptz,
    ADD COLUMN leg_seen_at timestamptz;

-- Registration per device (Yeastar 30007 `kind`: sip, mobile, desktop, web,
-- pad; 'unspecified' when absent): the last report per device by sequence.
-- extensions.registered is true while any device is registered, false
-- once every known device unregistered: logging out of the Linkus web
-- client leaves a registered desk phone online.
CREATE TABLE extension_devices (
    id          bigserial PRIMARY KEY,
    source      text NOT NULL,
    number      text NOT NULL,
    kind        text NOT NULL,
    registered  boolean NOT NULL,
    seq         bigint NOT NULL,
    at          timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, number, kind)
);
