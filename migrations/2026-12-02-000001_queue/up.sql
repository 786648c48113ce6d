-- The queue apart from the stored event (issue 12).
--
-- Before: one table, `webhook_events`, held the raw webhook and its
-- processing state, so completing an event rewrote its whole ~1 KB row
-- (never HOT: `processed_at` was in the pending index's predicate) and left
-- a dead tuple behind per event; retention deleted row by row.
--
-- Now three tables, each written once per event:
--   events        the raw webhook as received: insert-only (but for the
--                 Yeastar dedup retirement), partitioned by the UTC day it
--                 was received;
--   event_queue   one narrow row per pending (or dead) event: inserted by
--                 ingest in the same transaction as the event, deleted by
--                 the worker in the transaction that applies it;
--   event_results one narrow row per processed event: inserted in that same
--                 transaction; partitioned like `events`.
-- Retention drops whole days of both (switchboard_prune), and the view
-- `webhook_events` shows the three joined with the columns of before.

-- ------------------------------------------------------------ the tables --

CREATE TABLE events (
    id          bigint NOT NULL,
    -- The UTC day of received_at: the partition key, and part of every
    -- unique key (PostgreSQL requires it on a partitioned table).
    day         date NOT NULL DEFAULT ((now() AT TIME ZONE 'UTC')::date),
    source      text NOT NULL,
    provider    text CHECK (provider IN ('yeastar', 'dialpad', 'standard')),
    body        bytea NOT NULL,
    headers     jsonb NOT NULL DEFAULT '{}',
    dedup_key   text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, day),
    -- Deduplication within a day; across the day boundary ingest checks the
    -- previous day too (store::inbox::insert).
    UNIQUE (source, dedup_key, day)
) PARTITION BY RANGE (day);

ALTER SEQUENCE webhook_events_id_seq OWNED BY NONE;
ALTER SEQUENCE webhook_events_id_seq RENAME TO events_id_seq;
ALTER TABLE events ALTER COLUMN id SET DEFAULT nextval('events_id_seq');
ALTER SEQUENCE events_id_seq OWNED BY events.id;

CREATE TABLE event_queue (
    id              bigint PRIMARY KEY,
    day             date NOT NULL,
    source          text NOT NULL,
    received_at     timestamptz NOT NULL,
    -- Known once parsed (a failing event keeps it for stats).
    event_type      text,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz,
    -- Failed max-attempts times: kept, not claimed until replayed.
    dead_at         timestamptz
) WITH (fillfactor = 90,
        -- Every row is deleted within milliseconds: the worker vacuums the
        -- queue itself (it owns it, deploy/roles.sql); autovacuum is the
        -- fallback, after a few thousand deletions rather than 20%.
        autovacuum_vacuum_threshold = 2000,
        autovacuum_vacuum_scale_factor = 0,
        autovacuum_vacuum_insert_threshold = 2000,
        autovacuum_vacuum_insert_scale_factor = 0,
        autovacuum_vacuum_cost_delay = 0,
        -- A vacuum never tries to cut the table's empty tail: that needs an
        -- exclusive lock, which inserts and deletes never leave free, and
        -- the attempt holds the vacuum for up to 5 s.
        vacuum_truncate = false);
-- The claim: due, not dead, oldest first.
CREATE INDEX event_queue_due ON event_queue (id) WHERE dead_at IS NULL;

CREATE TABLE event_results (
    id           bigint NOT NULL,
    day          date NOT NULL,
    processed_at timestamptz NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('applied', 'ignored')),
    event_type   text,
    -- Attempts it took (1: the first).
    attempts     integer NOT NULL,
    -- The error of an earlier attempt, if any.
    last_error   text,
    -- One result per event: a second completion fails its batch.
    PRIMARY KEY (id, day)
) PARTITION BY RANGE (day);
-- `worker stats`: processed in the last minute / hour.
CREATE INDEX event_results_processed_brin ON event_results USING brin (processed_at);

-- A day without its partition (the workers and `worker migrate` create
-- them ahead; this catches a lapse) lands here instead of being refused.
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE TABLE event_results_default PARTITION OF event_results DEFAULT;

-- ------------------------------------------------------------ partitions --

-- Revokes every privilege on the table `name` from every role but its
-- owner.
CREATE FUNCTION switchboard_revoke_all(name text)
RETURNS void LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
              WHERE c.oid = name::regclass AND a.grantee <> c.relowner LOOP
        IF g.grantee = 0 THEN
            EXECUTE format('REVOKE ALL ON TABLE %I FROM PUBLIC', name);
        ELSE
            EXECUTE format('REVOKE ALL ON TABLE %I FROM %I', name, g.grantee::regrole::text);
        END IF;
    END LOOP;
END $$;

-- Creates the daily partitions of events and event_results for the days
-- first..last that have none. A day whose rows already sit in the default
-- partition is skipped with a warning (its rows stay there, and prune
-- deletes them row by row). Returns the days created. SECURITY DEFINER: the
-- worker's role may call it without owning the tables.
CREATE FUNCTION switchboard_ensure_partitions(first date, last date)
RETURNS SETOF date LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    d date;
    suffix text;
BEGIN
    IF last - first > 400 THEN
        RAISE EXCEPTION 'at most 400 days of partitions at once (asked % .. %)', first, last;
    END IF;
    d := first;
    WHILE d <= last LOOP
        suffix := to_char(d, 'YYYYMMDD');
        IF to_regclass('events_p' || suffix) IS NULL THEN
            BEGIN
                EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                               'events_p' || suffix, d, d + 1);
                EXECUTE format('CREATE TABLE %I PARTITION OF event_results FOR VALUES FROM (%L) TO (%L)',
                               'event_results_p' || suffix, d, d + 1);
                -- Insert-only: vacuum for the visibility map, not for dead tuples.
                EXECUTE format('ALTER TABLE %I SET (autovacuum_vacuum_insert_scale_factor = 0.05)',
                               'events_p' || suffix);
                -- Reached through their parents only: no privilege that the
                -- owner's default privileges would give (deploy/roles.sql
                -- grants the worker's role on tables created later).
                PERFORM switchboard_revoke_all('events_p' || suffix);
                PERFORM switchboard_revoke_all('event_results_p' || suffix);
                RETURN NEXT d;
            EXCEPTION WHEN check_violation THEN
                RAISE WARNING 'no partition for %: its rows are in the default partition', d;
            END;
        END IF;
        d := d + 1;
    END LOOP;
END $$;

-- Retention: drops the daily partitions of events (and their results)
-- received before the UTC day of now() - older_than, a whole day at a time;
-- a day that still holds pending events, or dead ones (unless include_dead
-- and they died before the cutoff), is kept. Rows of those days in the
-- default partition are deleted row by row. Returns what it did.
CREATE FUNCTION switchboard_prune(older_than interval, include_dead boolean,
                                  OUT deleted bigint, OUT partitions integer,
                                  OUT kept_days integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    cutoff date := ((now() - older_than) AT TIME ZONE 'UTC')::date;
    p record;
    d date;
    n bigint;
BEGIN
    deleted := 0; partitions := 0; kept_days := 0;
    IF include_dead THEN
        WITH gone AS (
            DELETE FROM event_queue WHERE dead_at < now() - older_than AND day < cutoff
            RETURNING id, day)
        DELETE FROM events e USING gone WHERE e.id = gone.id AND e.day = gone.day;
        GET DIAGNOSTICS n = ROW_COUNT;
        deleted := deleted + n;
    END IF;
    FOR p IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_p[0-9]{8}$'
              ORDER BY c.relname LOOP
        d := to_date(substr(p.relname, 9), 'YYYYMMDD');
        CONTINUE WHEN d >= cutoff;
        IF EXISTS (SELECT 1 FROM event_queue WHERE day = d) THEN
            kept_days := kept_days + 1;
            RAISE WARNING 'kept the events of %: some are pending or dead', d;
            CONTINUE;
        END IF;
        EXECUTE format('SELECT count(*) FROM %I', 'event_results_p' || to_char(d, 'YYYYMMDD')) INTO n;
        EXECUTE format('DROP TABLE %I, %I', p.relname, 'event_results_p' || to_char(d, 'YYYYMMDD'));
        deleted := deleted + n;
        partitions := partitions + 1;
    END LOOP;
    -- The default partitions: processed events of old days, row by row.
    WITH gone AS (
        DELETE FROM event_results_default r WHERE r.day < cutoff RETURNING id, day)
    DELETE FROM events_default e USING gone WHERE e.id = gone.id AND e.day = gone.day;
    GET DIAGNOSTICS n = ROW_COUNT;
    deleted := deleted + n;
END $$;

-- ----------------------------------------------- the rows of before, moved --

SELECT switchboard_ensure_partitions(d::date, d::date)
  FROM (SELECT DISTINCT (received_at AT TIME ZONE 'UTC')::date AS d FROM webhook_events) days
 WHERE d >= (now() AT TIME ZONE 'UTC')::date - 400;
SELECT switchboard_ensure_partitions((now() AT TIME ZONE 'UTC')::date - 1,
                                     (now() AT TIME ZONE 'UTC')::date + 7);

INSERT INTO events (id, day, source, provider, body, headers, dedup_key, received_at)
SELECT id, (received_at AT TIME ZONE 'UTC')::date, source, provider, body, headers, dedup_key, received_at
  FROM webhook_events;
INSERT INTO event_queue (id, day, source, received_at, event_type, attempts, last_error, next_attempt_at, dead_at)
SELECT id, (received_at AT TIME ZONE 'UTC')::date, source, received_at, event_type, attempts, last_error, next_attempt_at, dead_at
  FROM webhook_events WHERE processed_at IS NULL;
INSERT INTO event_results (id, day, processed_at, outcome, event_type, attempts, last_error)
SELECT id, (received_at AT TIME ZONE 'UTC')::date, processed_at, coalesce(outcome, 'applied'), event_type,
       greatest(attempts, 1), last_error
  FROM webhook_events WHERE processed_at IS NOT NULL;
DROP TABLE webhook_events;

-- ---------------------------------------------------------------- the view --

-- The inbox as it looked before: one row per stored event with its state.
-- For people and tests; the application reads and writes the tables.
CREATE VIEW webhook_events AS
SELECT e.id, e.day, e.source, e.provider,
       coalesce(r.event_type, q.event_type) AS event_type,
       e.body, e.headers, e.dedup_key, e.received_at,
       r.processed_at, r.outcome,
       coalesce(r.attempts, q.attempts, 0) AS attempts,
       coalesce(q.last_error, r.last_error) AS last_error,
       q.next_attempt_at, q.dead_at
  FROM events e
  LEFT JOIN event_queue q ON q.id = e.id
  LEFT JOIN event_results r ON r.id = e.id AND r.day = e.day;

-- Only the owner (and the roles it grants to: deploy/roles.sql) may prune
-- or create partitions.
REVOKE EXECUTE ON FUNCTION switchboard_prune(interval, boolean) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION switchboard_ensure_partitions(date, date) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION switchboard_revoke_all(text) FROM PUBLIC;
