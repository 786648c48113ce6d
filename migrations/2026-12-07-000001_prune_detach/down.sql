-- Back to dropping the days in switchboard_prune's own transaction; days
-- already retired are dropped now.
SELECT switchboard_drop_retired();
DROP FUNCTION switchboard_drop_retired();

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
