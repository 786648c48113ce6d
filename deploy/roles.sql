-- Least-privilege database roles for Switchboard.
--
--   switchboard_ingest  ingest: inserts verified webhooks into the inbox,
--                       reads sources and their secrets, stamps
--                       sources.last_received_at, NOTIFYs the workers.
--   switchboard_worker  `worker run` and the operator commands: claims,
--                       completes and replays queued events, prunes and
--                       creates partitions through the owner's functions; writes
--                       calls, call_legs, call_queues, extensions (and their
--                       devices), queue agents and missed calls; manages
--                       sources, their phone system API settings, queue
--                       settings, board users and API tokens; reads the
--                       audits of actions on calls and on missed calls.
--   switchboard_board   board: reads extensions, calls, call legs, queues,
--                       agents and missed calls; logs board users in
--                       (sessions, the login rate limit) and checks API
--                       tokens; reads the sources' (sealed) API settings to
--                       hang calls up and appends each action to the audit;
--                       marks missed calls done (and audits it); the
--                       operators' console reads the inbox and the
--                       deliveries, re-queues dead events and sends
--                       deliveries again (and audits it). Writes nothing
--                       else.
--
-- No role owns anything or may create anything. The schema belongs to
-- the migration owner: the role `worker migrate` connects as, which is the
-- only one that may change it. Run this file AFTER `worker migrate` (it
-- grants on the tables the migrations create), as that owner or as a
-- superuser, and again after every upgrade: it is idempotent, runs in one
-- transaction, and converges (privileges no longer listed here are revoked).
--
--   psql "postgres://OWNER@HOST/DB" -X -v ON_ERROR_STOP=1 \
--        -v ingest_password="$SWITCHBOARD_INGEST_DB_PASSWORD" \
--        -v worker_password="$SWITCHBOARD_WORKER_DB_PASSWORD" \
--        -v board_password="$SWITCHBOARD_BOARD_DB_PASSWORD" \
--        -f deploy/roles.sql
--
-- Variables (psql -v NAME=VALUE):
--   ingest_password, worker_password, board_password   required: the roles'
--        passwords (sent to the server, which stores a SCRAM verifier; this
--        file turns statement logging off for its session when it runs as a
--        superuser so that they do not reach the server log)
--   ingest_role, worker_role, board_role   optional: other role names (roles
--        are server-wide: give each environment sharing a server its own)
--   owner   optional: the migration owner, whose future tables get the
--        default grants below (default: the role running this file)
--
-- Tables added by later migrations: the worker role gets SELECT, INSERT and
-- UPDATE on them (and USAGE on their sequences) from the default privileges
-- below as soon as the owner creates them; the ingest and board roles get
-- nothing until this file lists them and is run again. Default privileges
-- only cover tables created after this file first ran, so every table the
-- worker uses is also listed below: a fresh database is migrated before the
-- roles exist.
--
-- NOTIFY and LISTEN need no privilege.

\set ON_ERROR_STOP on

\if :{?ingest_password}
\else
  \warn 'roles.sql: set the ingest role password: psql -v ingest_password=...'
  SELECT 1/0 AS ingest_password_not_set;
\endif
\if :{?worker_password}
\else
  \warn 'roles.sql: set the worker role password: psql -v worker_password=...'
  SELECT 1/0 AS worker_password_not_set;
\endif
\if :{?board_password}
\else
  \warn 'roles.sql: set the board role password: psql -v board_password=...'
  SELECT 1/0 AS board_password_not_set;
\endif
\if :{?ingest_role}
\else
  \set ingest_role switchboard_ingest
\endif
\if :{?worker_role}
\else
  \set worker_role switchboard_worker
\endif
\if :{?board_role}
\else
  \set board_role switchboard_board
\endif
\if :{?owner}
\else
  SELECT current_user AS owner \gset
\endif
SELECT rolsuper AS running_as_superuser FROM pg_roles WHERE rolname = current_user \gset

BEGIN;

-- Keep the passwords out of the server log (a superuser-only setting).
\if :running_as_superuser
  SET LOCAL log_statement = 'none';
  SET LOCAL log_min_duration_statement = -1;
\endif

-- ------------------------------------------------------------------ roles --

SELECT format('CREATE ROLE %I', :'ingest_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'ingest_role') \gexec
SELECT format('CREATE ROLE %I', :'worker_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'worker_role') \gexec
SELECT format('CREATE ROLE %I', :'board_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'board_role') \gexec

ALTER ROLE :"ingest_role" WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD :'ingest_password';
ALTER ROLE :"worker_role" WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD :'worker_password';
ALTER ROLE :"board_role" WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD :'board_password';

-- Nobody but the owner creates objects in the schema (the default from
-- PostgreSQL 15 on; older servers let every role create there).
SELECT 'REVOKE CREATE ON SCHEMA public FROM PUBLIC'
 WHERE EXISTS (SELECT FROM pg_namespace
                WHERE nspname = 'public' AND pg_has_role(current_user, nspowner, 'MEMBER')) \gexec

GRANT CONNECT ON DATABASE :"DBNAME" TO :"ingest_role", :"worker_role", :"board_role";
GRANT USAGE ON SCHEMA public TO :"ingest_role", :"worker_role", :"board_role";

-- Start from nothing on every table and sequence named here (column
-- privileges go with the table's), so that a re-run converges.
REVOKE ALL ON TABLE webhook_events, events, event_queue, event_results,
                    sources, source_secrets, calls, call_legs, extensions,
                    csta_calls, board_users, board_sessions, login_failures, api_tokens,
                    source_apis, call_actions, call_queues, queue_settings, queue_agents,
                    extension_devices, missed_calls, missed_call_actions,
                    __diesel_schema_migrations
  FROM :"ingest_role", :"worker_role", :"board_role";
REVOKE ALL ON SEQUENCE events_id_seq, source_secrets_id_seq, calls_id_seq,
                       call_legs_id_seq, extensions_id_seq, csta_calls_id_seq,
                       board_users_id_seq, login_failures_id_seq, api_tokens_id_seq,
                       call_actions_id_seq, call_queues_id_seq, queue_agents_id_seq,
                       extension_devices_id_seq, missed_calls_id_seq,
                       missed_call_actions_id_seq
  FROM :"ingest_role", :"worker_role", :"board_role";

-- `worker wait-schema` (each pod's first step in Kubernetes) reads which
-- migrations are applied, and nothing else of the table.
GRANT SELECT (version) ON __diesel_schema_migrations
  TO :"ingest_role", :"worker_role", :"board_role";

-- ----------------------------------------------------------------- ingest --
-- Exactly what store::inbox::insert (group commit), store::sources::lookup
-- and store::sources::stamp_received run.

-- INSERT INTO events ... ON CONFLICT (source, dedup_key, day) DO NOTHING
-- RETURNING id, day, source, dedup_key, received_at, and the event's queue
-- row in the same statement; the id comes from the sequence.
GRANT INSERT (day, source, provider, body, headers, dedup_key) ON events TO :"ingest_role";
GRANT INSERT (id, day, source, received_at) ON event_queue TO :"ingest_role";
GRANT USAGE ON SEQUENCE events_id_seq TO :"ingest_role";
-- RETURNING and the look-up of duplicates (today and yesterday) read these
-- columns (and the Yeastar retirement filters on received_at); nothing else
-- of the inbox, bodies included, is readable.
GRANT SELECT (id, day, source, dedup_key, received_at) ON events TO :"ingest_role";
-- Yeastar retirement: an identical body older than the window gets its
-- dedup_key suffixed with its id, so that the new one is stored.
GRANT UPDATE (dedup_key) ON events TO :"ingest_role";
-- Verification: the source, its settings and its (sealed) secrets.
GRANT SELECT ON sources, source_secrets TO :"ingest_role";
-- The activity stamp `worker stats` shows.
GRANT UPDATE (last_received_at) ON sources TO :"ingest_role";

-- ----------------------------------------------------------------- worker --

-- Claim (SELECT ... FOR UPDATE SKIP LOCKED on the queue, the events read),
-- complete (DELETE the queue row, INSERT the result; UPDATE a failed one),
-- replay (UPDATE), stats and wait-idle (SELECT). No INSERT of events: only
-- ingest stores webhooks. Retention and the daily partitions go through
-- the owner's SECURITY DEFINER functions, which only this role may run.
GRANT SELECT ON events, webhook_events TO :"worker_role";
GRANT SELECT, UPDATE, DELETE ON event_queue TO :"worker_role";
GRANT SELECT, INSERT ON event_results TO :"worker_role";
GRANT EXECUTE ON FUNCTION switchboard_prune(interval, boolean),
                          switchboard_ensure_partitions(date, date) TO :"worker_role";
-- (The worker also vacuums the queue when its role may: PostgreSQL 15 and
-- 16 let only the table's owner do that. As a superuser,
-- `ALTER TABLE event_queue OWNER TO switchboard_worker` allows it; without
-- it, autovacuum alone cleans the queue: see the README's Performance.)
-- The projections: upserted and locked row by row; nothing deletes them.
GRANT SELECT, INSERT, UPDATE ON calls, call_legs, extensions, csta_calls, call_queues,
                                queue_agents, extension_devices, missed_calls TO :"worker_role";
GRANT USAGE ON SEQUENCE calls_id_seq, call_legs_id_seq, extensions_id_seq, csta_calls_id_seq,
                        call_queues_id_seq, queue_agents_id_seq, extension_devices_id_seq,
                        missed_calls_id_seq
  TO :"worker_role";
-- `worker queue set-sla|clear-sla|settings`: per-queue settings.
GRANT SELECT, INSERT, UPDATE, DELETE ON queue_settings TO :"worker_role";
-- `worker missed done` marks a missed call done and audits it, as the
-- board does; `worker audit --missed` reads that audit.
GRANT SELECT, INSERT ON missed_call_actions TO :"worker_role";
GRANT USAGE ON SEQUENCE missed_call_actions_id_seq TO :"worker_role";
-- `worker source ...`: sources and secrets are added, changed, revoked,
-- re-sealed; never deleted.
GRANT SELECT, INSERT, UPDATE ON sources, source_secrets TO :"worker_role";
GRANT USAGE ON SEQUENCE source_secrets_id_seq TO :"worker_role";
-- `worker user ...` and `worker token ...`: board users and API tokens are
-- added, changed, disabled or revoked; never deleted.
GRANT SELECT, INSERT, UPDATE ON board_users, api_tokens TO :"worker_role";
GRANT USAGE ON SEQUENCE board_users_id_seq, api_tokens_id_seq TO :"worker_role";
-- `worker user disable` logs the user out everywhere: deletes their
-- sessions (found by user_id, hence SELECT). It opens none.
GRANT SELECT, DELETE ON board_sessions TO :"worker_role";
-- `worker source set-api|clear-api|list|rekey`: the sources' phone system
-- API settings (sealed credentials) are set, replaced, resealed, removed.
GRANT SELECT, INSERT, UPDATE, DELETE ON source_apis TO :"worker_role";
-- `worker audit`: reads the actions on calls; only the board writes them,
-- and nobody changes or deletes them.
GRANT SELECT ON call_actions TO :"worker_role";
-- Events out (docs/events.md): the batch writes the outbox and fans each
-- event out to deliveries; `worker endpoint ...` manages endpoints (sealed
-- secrets), `worker deliver` claims and completes deliveries, and the
-- retention removes old events and deliveries.
REVOKE ALL ON TABLE outbox, webhook_endpoints, webhook_deliveries
  FROM :"ingest_role", :"worker_role", :"board_role";
REVOKE ALL ON SEQUENCE outbox_seq_seq, webhook_endpoints_id_seq, webhook_deliveries_id_seq
  FROM :"ingest_role", :"worker_role", :"board_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox, webhook_endpoints, webhook_deliveries
  TO :"worker_role";
GRANT USAGE ON SEQUENCE outbox_seq_seq, webhook_endpoints_id_seq, webhook_deliveries_id_seq
  TO :"worker_role";

-- ------------------------------------------------------------------ board --
-- Exactly what the board and store::users::verify / store::access run.

-- The live board: extensions, calls and their legs, queues, agents and
-- missed calls, read only; the sources' time zones ("today").
GRANT SELECT ON extensions, calls, call_legs, call_queues, queue_agents, queue_settings,
                extension_devices, missed_calls TO :"board_role";
GRANT SELECT (name, timezone) ON sources TO :"board_role";
-- Marking a missed call done (store::missed::mark_done): the entry is
-- locked, moved past what the operator saw and recounted from calls; the
-- audit row is appended, never read back, changed or deleted.
GRANT UPDATE (missed_count, first_at, last_at, last_call_id, last_reason, answered_at,
              done_through, done_at, done_by, updated_at) ON missed_calls TO :"board_role";
GRANT INSERT ON missed_call_actions TO :"board_role";
GRANT USAGE ON SEQUENCE missed_call_actions_id_seq TO :"board_role";
-- Logging in and checking a session: the user's row (store::users::verify
-- reads all of these; a column a later migration adds stays unreadable);
-- the user's own extension, which a supervisor listens from.
GRANT SELECT (id, name, role, password_hash, created_at, disabled_at, extension) ON board_users
  TO :"board_role";
-- Sessions: opened at login (expired ones deleted on the way), looked up
-- on every request, deleted at logout. Never changed.
GRANT SELECT, INSERT, DELETE ON board_sessions TO :"board_role";
-- The login rate limit: failures counted, recorded, and pruned or cleared.
GRANT SELECT, INSERT, DELETE ON login_failures TO :"board_role";
GRANT USAGE ON SEQUENCE login_failures_id_seq TO :"board_role";
-- API tokens: looked up by hash and stamped when used; only `worker token`
-- adds or revokes them.
GRANT SELECT ON api_tokens TO :"board_role";
GRANT UPDATE (last_used_at) ON api_tokens TO :"board_role";
-- Hanging up: the source's API settings (sealed; the board opens them with
-- SWITCHBOARD_SECRETS_KEY) are read, and every action is appended to the
-- audit, which the board can neither read back, change nor delete.
GRANT SELECT ON source_apis TO :"board_role";
GRANT INSERT ON call_actions TO :"board_role";
GRANT USAGE ON SEQUENCE call_actions_id_seq TO :"board_role";
-- The event stream (GET /api/stream): reads the outbox, nothing else of it.
GRANT SELECT ON outbox TO :"board_role";
-- The operators' console (/console, docs/events.md): reads the inbox
-- (bodies and kept headers: ingest keeps no signature) with each event's
-- state; re-queues dead events (store::inbox::replay: the queue row's
-- attempts, next attempt and death reset, nothing else); reads the
-- endpoints without their sealed secrets and their deliveries, and sends
-- deliveries again (store::events_out::resend and recover). Every action
-- is appended to console_actions, which it never changes or deletes.
REVOKE ALL ON TABLE console_actions FROM :"ingest_role", :"worker_role", :"board_role";
REVOKE ALL ON SEQUENCE console_actions_id_seq FROM :"ingest_role", :"worker_role", :"board_role";
GRANT SELECT ON events, event_queue, event_results TO :"board_role";
GRANT UPDATE (dead_at, next_attempt_at, attempts) ON event_queue TO :"board_role";
GRANT SELECT (id, name, url, types, source, allow_private, enabled, disabled_reason,
              failing_since, previous_until) ON webhook_endpoints TO :"board_role";
GRANT SELECT ON webhook_deliveries TO :"board_role";
GRANT INSERT (endpoint_id, event_seq, subject) ON webhook_deliveries TO :"board_role";
GRANT UPDATE (state, next_at, created_at, done_at, leased_until) ON webhook_deliveries
  TO :"board_role";
GRANT USAGE ON SEQUENCE webhook_deliveries_id_seq TO :"board_role";
GRANT INSERT ON console_actions TO :"board_role";
GRANT USAGE ON SEQUENCE console_actions_id_seq TO :"board_role";
-- The console's audit, for reading (`worker audit --console`).
GRANT SELECT ON console_actions TO :"worker_role";

-- Tables and sequences the owner creates from now on (later migrations).
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE ON TABLES TO :"worker_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT USAGE ON SEQUENCES TO :"worker_role";

COMMIT;
