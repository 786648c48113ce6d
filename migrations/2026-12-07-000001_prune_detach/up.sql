-- Retention in two steps, so that the inbox is locked only for a catalogue
-- change: switchboard_prune detaches the old days' partitions of events and
-- event_results and renames them retired_*, in the transaction that decides
-- what goes; switchboard_drop_retired then drops them in a transaction of
-- its own (`worker prune` runs both). Dropping a day's files takes about a
-- second per gigabyte on a slow disk, and in one transaction with the
-- decision the exclusive locks on events and event_results were held all
-- that time, with every insert and claim queued behind them.

CREATE OR REPLACE FUNCTION switchboard_prune(older_than interval, include_dead boolean,
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
        -- Out of the inbox now (a catalogue change: the lock on events and
        -- event_results is held for milliseconds); the files go later, in
        -- switchboard_drop_retired's own transaction, locking nothing that
        -- ingest or the workers use.
        EXECUTE format('ALTER TABLE events DETACH PARTITION %I', p.relname);
        EXECUTE format('ALTER TABLE event_results DETACH PARTITION %I',
                       'event_results_p' || to_char(d, 'YYYYMMDD'));
        EXECUTE format('ALTER TABLE %I RENAME TO %I', p.relname, 'retired_' || p.relname);
        EXECUTE format('ALTER TABLE %I RENAME TO %I', 'event_results_p' || to_char(d, 'YYYYMMDD'),
                       'retired_event_results_p' || to_char(d, 'YYYYMMDD'));
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

-- Drops the tables switchboard_prune retired. Returns how many.
CREATE FUNCTION switchboard_drop_retired()
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    t record;
    n integer := 0;
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
              WHERE ns.nspname = 'public' AND c.relkind = 'r'
                AND c.relname ~ '^retired_(events|event_results)_p[0-9]{8}$'
              ORDER BY c.relname LOOP
        EXECUTE format('DROP TABLE %I', t.relname);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
REVOKE EXECUTE ON FUNCTION switchboard_drop_retired() FROM PUBLIC;
