#!/usr/bin/env bash
# bench/pg-ceiling.sh: what the PostgreSQL server itself allows for an inbox
# like Switchboard's, measured with pgbench. An anchor of `just bench`: ingest
# and worker figures are compared with these, taken minutes apart on the same
# machine and server.
#
#   insert_1_per_tx_rows_per_s  16 clients, one single-row INSERT per
#                               transaction: the most an ingest that commits
#                               every webhook on its own can reach
#   insert_batched_rows_per_s   4 clients, one 50-row INSERT per transaction:
#                               the most an ingest that groups commits can reach
#   claim_complete_rows_per_s   PRELOAD pending rows, then 4 clients, each
#                               repeating one statement that claims 100 rows
#                               (FOR UPDATE SKIP LOCKED) and marks them
#                               processed: the queue mechanics alone, no body
#                               read, no state written
#
# The scratch database (BENCH_DB) holds one table shaped like the inbox of
# migrations/ (same columns, unique key, partial pending index, BRIN and
# failing indexes, autovacuum settings); each row gets a 1 KiB JSON body, sent
# by pgbench as a bound parameter. The database is recreated at the start and
# dropped at the end, and on Ctrl-C, SIGTERM or failure too.
#
# Environment:
#   DATABASE_URL  admin URL (postgres://, postgresql:// or key=value), a role
#                 with CREATEDB; default postgres://postgres@127.0.0.1:5432/postgres
#   DURATION      seconds per measurement (default 15)
#   PRELOAD       pending rows before the claim run (default 900000, ~1 GB;
#                 enough for DURATION=15 on a 2-core VM)
#   TESTS         subset of "insert_1_per_tx insert_batched claim_complete"
#   BENCH_DB      scratch database (default sb_bench_ceiling)
#   KEEP_DB=1     keep the scratch database for inspection
#   PG_BINDIR     where psql and pgbench are, if not on PATH nor in
#                 /usr/lib/postgresql/*/bin
#
# stdout: `name: value` lines, only when every measurement succeeded.
# stderr: progress. Exit: 0 ok, 2 server unreachable / no rights / tool
# missing, 4 a measurement failed or timed out, 130/143 interrupted.
set -euo pipefail

DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
DURATION="${DURATION:-15}"
PRELOAD="${PRELOAD:-900000}"
TESTS="${TESTS:-insert_1_per_tx insert_batched claim_complete}"
BENCH_DB="${BENCH_DB:-sb_bench_ceiling}"
KEEP_DB="${KEEP_DB:-0}"

BODY_BYTES=1024
SINGLE_CLIENTS=16
BATCH_CLIENTS=4 BATCH_ROWS=50
CLAIM_CLIENTS=4 CLAIM_ROWS=100

BENCH_NAME=pg-ceiling
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

positive DURATION "$DURATION"
positive PRELOAD "$PRELOAD"
for t in $TESTS; do
  case "$t" in insert_1_per_tx|insert_batched|claim_complete) ;; *) fail 4 "unknown test '$t' in TESTS";; esac
done
bench_init
PGBENCH="$(pg_program pgbench)" || fail 2 "pgbench not found (Debian: apt-get install postgresql-client; or set PG_BINDIR)"

# --- server ---------------------------------------------------------------------------
say "server: $(masked "$ADMIN_URL"); pgbench: $PGBENCH"
check_server
free="$(free_connections)"
[ "$free" -ge $((SINGLE_CLIENTS + 2)) ] || fail 2 "needs $((SINGLE_CLIENTS + 2)) free connections, the server has $free"
settings="$(sql "$ADMIN_URL" -c "SELECT split_part(current_setting('server_version'), ' ', 1),
    current_setting('synchronous_commit'), current_setting('fsync'), current_setting('shared_buffers'),
    current_setting('full_page_writes'), current_setting('wal_sync_method'),
    current_setting('commit_delay'), current_setting('max_wal_size')")"
IFS='|' read -r SERVER_VERSION SYNC_COMMIT FSYNC SHARED_BUFFERS FPW WAL_SYNC COMMIT_DELAY MAX_WAL <<<"$settings"
CORES="$(nproc 2>/dev/null || echo 1)"
threads() { if [ "$1" -lt "$CORES" ]; then echo "$1"; else echo "$CORES"; fi; }

# --- scratch database -------------------------------------------------------------------
say "creating database $BENCH_DB"
create_db
# The inbox of migrations/ (init, operations, lean_inbox, autovacuum,
# event_provider), written out so that the anchor does not move with them.
cat >"$WORK/schema.sql" <<'SQL'
SET client_min_messages = warning;
CREATE TABLE webhook_events (
    id              bigserial PRIMARY KEY,
    source          text NOT NULL,
    provider        text CHECK (provider IN ('yeastar', 'dialpad', 'standard')),
    event_type      text,
    body            bytea NOT NULL,
    headers         jsonb NOT NULL DEFAULT '{}',
    dedup_key       text NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    outcome         text CHECK (outcome IN ('applied', 'ignored')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz,
    dead_at         timestamptz,
    UNIQUE (source, dedup_key)
);
CREATE INDEX webhook_events_pending ON webhook_events (id) WHERE processed_at IS NULL;
CREATE INDEX webhook_events_processed_brin ON webhook_events USING brin (processed_at);
ALTER TABLE webhook_events SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
SQL
sql "$BENCH_URL" -f "$WORK/schema.sql" >/dev/null

# A Yeastar-like call event of exactly BODY_BYTES bytes, and its headers.
body_head='{"type":30012,"sn":"3631A9876543","msg":{"call_id":"1763712000.48211","members":[{"extension":{"number":"6012","channel_id":"PJSIP/6012-000001a4","member_status":"ANSWERED","call_path":""}},{"outbound":{"from":"6012","to":"+15557654321","trunk_name":"sip-trunk-1","channel_id":"PJSIP/sip-trunk-1-000001a5","member_status":"ANSWERED","call_path":""}}]},"note":"'
body_tail='"}'
printf -v body_pad '%*s' $((BODY_BYTES - ${#body_head} - ${#body_tail})) ''
BODY="$body_head${body_pad// /.}$body_tail"
[ "${#BODY}" -eq "$BODY_BYTES" ] || fail 4 "internal: body of ${#BODY} bytes"
HEADERS='{"content-type":"application/json","user-agent":"Yeastar-PBX","x-yeastar-signature":"sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}'

# pgbench scripts. Every client counts its transactions in `seq` (pgbench
# keeps a client's variables from one transaction to the next), so dedup keys
# never collide: each transaction inserts exactly its rows.
DEDUP='encode(sha256(int4send(CAST(:client_id AS int)) || int8send(CAST(:seq AS bigint))%s), '"'hex'"')'
cat >"$WORK/insert_1_per_tx.sql" <<SQL
\\set seq :seq + 1
INSERT INTO webhook_events (source, provider, event_type, body, headers, dedup_key)
VALUES ('pbx', 'yeastar', '30012', convert_to(:body, 'UTF8'), CAST(:headers AS jsonb), $(printf "$DEDUP" ''))
ON CONFLICT (source, dedup_key) DO NOTHING;
SQL
cat >"$WORK/insert_batched.sql" <<SQL
\\set seq :seq + 1
INSERT INTO webhook_events (source, provider, event_type, body, headers, dedup_key)
SELECT 'pbx', 'yeastar', '30012', convert_to(:body, 'UTF8'), CAST(:headers AS jsonb), $(printf "$DEDUP" ' || int4send(n)')
  FROM generate_series(1, $BATCH_ROWS) AS n
ON CONFLICT (source, dedup_key) DO NOTHING;
SQL
# One statement, one transaction: claim the oldest pending rows that no one
# else holds and mark them processed (as an applied event would be).
CLAIM="WITH claimed AS (
  SELECT id FROM webhook_events
   WHERE processed_at IS NULL
   ORDER BY id
   LIMIT $CLAIM_ROWS
     FOR UPDATE SKIP LOCKED)
UPDATE webhook_events AS e
   SET processed_at = now(), outcome = 'applied', attempts = e.attempts + 1
  FROM claimed
 WHERE e.id = claimed.id;"
printf '%s\n' "$CLAIM" >"$WORK/claim_complete.sql"

# --- measuring ----------------------------------------------------------------------------
# Before each run: dead rows vacuumed, statistics fresh, dirty pages written
# (CHECKPOINT needs superuser or pg_checkpoint; skipped without).
settle() {
  bounded 600 "$PSQL" "$BENCH_URL" -X -w -q -v ON_ERROR_STOP=1 -c 'VACUUM (ANALYZE) webhook_events' >/dev/null \
    || fail 4 "VACUUM failed"
  sql "$BENCH_URL" -c 'CHECKPOINT' >/dev/null 2>&1 || true
}
empty_table() { sql "$BENCH_URL" -c 'TRUNCATE webhook_events RESTART IDENTITY' >/dev/null; }

# pgbench NAME CLIENTS: sets TX (committed transactions), SECS (pgbench's
# measured time, without connection set-up) and LAT_MS (mean per transaction).
pgbench_run() {
  local name="$1" clients="$2" rc=0 out="$WORK/$1.out"
  say "$name: $clients clients, ${DURATION} s"
  bounded $((DURATION + 120)) "$PGBENCH" -n -M prepared -c "$clients" -j "$(threads "$clients")" -T "$DURATION" \
    -D seq=0 -D "body=$BODY" -D "headers=$HEADERS" -f "$WORK/$name.sql" "$BENCH_URL" \
    >"$out" 2>"$WORK/$name.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 15 "$WORK/$name.err" >&3
    [ "$rc" -eq 124 ] && fail 4 "$name: pgbench did not finish in $((DURATION + 120)) s"
    fail 4 "$name: pgbench exited with $rc"
  fi
  TX="$(awk -F': ' '/^number of transactions actually processed/ {print $2 + 0}' "$out")"
  local tps failed
  tps="$(awk '/^tps = / {print $3}' "$out")"
  failed="$(awk -F': ' '/^number of failed transactions/ {print $2 + 0}' "$out")"
  LAT_MS="$(awk '/^latency average = / {print $4}' "$out")"
  if [ -z "$TX" ] || [ -z "$tps" ]; then cat "$out" >&3; fail 4 "$name: unreadable pgbench output"; fi
  [ "${failed:-0}" -eq 0 ] || fail 4 "$name: $failed transactions failed"
  [ "$TX" -gt 0 ] || fail 4 "$name: no transaction completed"
  SECS="$(awk -v n="$TX" -v t="$tps" 'BEGIN {printf "%.3f", n / t}')"
}
div0() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", a / b}'; }

: >"$WORK/results"
put() { printf '%s: %s\n' "$1" "$2" >>"$WORK/results"; }

measure_insert() { # NAME CLIENTS ROWS_PER_TX
  local name="$1" clients="$2" per_tx="$3" rows
  empty_table; settle
  pgbench_run "$name" "$clients"
  rows="$(sql "$BENCH_URL" -c 'SELECT count(*) FROM webhook_events')"
  [ "$rows" -eq $((TX * per_tx)) ] \
    || fail 4 "$name: $TX transactions of $per_tx rows committed, but the table holds $rows rows"
  say "$name: $rows rows in $SECS s"
  put "${name}_rows_per_s" "$(div0 "$rows" "$SECS")"
  [ "$per_tx" -eq 1 ] || put "${name}_tx_per_s" "$(div0 "$TX" "$SECS")"
  put "${name}_latency_ms" "$LAT_MS"
  put "${name}_clients" "$clients"
  [ "$per_tx" -eq 1 ] || put "${name}_rows_per_tx" "$per_tx"
}

measure_claim() {
  say "claim_complete: loading $PRELOAD pending rows"
  empty_table
  cat >"$WORK/preload.sql" <<SQL
INSERT INTO webhook_events (source, provider, event_type, body, headers, dedup_key, received_at)
SELECT 'pbx', 'yeastar', '30012', convert_to(:'body', 'UTF8'), CAST(:'headers' AS jsonb),
       encode(sha256(int8send(n)), 'hex'), now() - interval '1 hour'
  FROM generate_series(1, $PRELOAD) AS n;
SQL
  bounded $((120 + PRELOAD / 500)) "$PSQL" "$BENCH_URL" -X -w -q -v ON_ERROR_STOP=1 \
    -v "body=$BODY" -v "headers=$HEADERS" -f "$WORK/preload.sql" >/dev/null || fail 4 "claim_complete: preload failed"
  settle
  local index
  index="$(sql "$BENCH_URL" -c "EXPLAIN (COSTS OFF) $CLAIM" | sed -n 's/.*Index Scan using \([a-z_]*\) on webhook_events.*/\1/p' | head -n 1)"
  pgbench_run claim_complete "$CLAIM_CLIENTS"
  # processed_at is now() of the claim's transaction: the table tells when the
  # first and the last claim started.
  local stats done_rows span pending twice
  stats="$(sql "$BENCH_URL" -c "
    SELECT count(processed_at), coalesce(extract(epoch FROM max(processed_at) - min(processed_at)), 0),
           count(*) - count(processed_at), count(*) FILTER (WHERE attempts > 1)
      FROM webhook_events")" || fail 4 "claim_complete: could not read the table back"
  IFS='|' read -r done_rows span pending twice <<<"$stats"
  [ "$twice" -eq 0 ] || fail 4 "claim_complete: $twice rows were claimed more than once"
  [ "$done_rows" -gt 0 ] || fail 4 "claim_complete: no row was processed"
  # Over pgbench's time while rows were left; if the queue ran dry, over the
  # span in which claims found rows (the empty claims after it do not count).
  local drained=false secs="$SECS"
  if [ "$pending" -lt $((CLAIM_CLIENTS * CLAIM_ROWS)) ]; then
    drained=true
    secs="$(awk -v s="$span" 'BEGIN {printf "%.3f", s}')"
    awk -v s="$secs" 'BEGIN {exit !(s > 0)}' || fail 4 "claim_complete: the queue emptied at once; raise PRELOAD"
    awk -v s="$secs" 'BEGIN {exit !(s < 3)}' && say "warning: the queue emptied after $secs s; the figure is noisy (raise PRELOAD)"
    say "claim_complete: $done_rows rows processed in $secs s, then the queue was empty"
  else
    say "claim_complete: $done_rows rows processed in $secs s, $pending still pending"
  fi
  put claim_complete_rows_per_s "$(div0 "$done_rows" "$secs")"
  put claim_complete_latency_ms "$LAT_MS"
  put claim_complete_active_s "$secs"
  put claim_complete_clients "$CLAIM_CLIENTS"
  put claim_complete_rows_per_claim "$CLAIM_ROWS"
  put claim_complete_preload_rows "$PRELOAD"
  put claim_complete_rows_processed "$done_rows"
  put claim_complete_drained "$drained"
  put claim_complete_index "${index:-unknown}"
}

for t in $TESTS; do
  case "$t" in
    insert_1_per_tx) measure_insert insert_1_per_tx "$SINGLE_CLIENTS" 1 ;;
    insert_batched) measure_insert insert_batched "$BATCH_CLIENTS" "$BATCH_ROWS" ;;
    claim_complete) measure_claim ;;
  esac
done

finish_db

cat <<EOF
server_version: $SERVER_VERSION
synchronous_commit: $SYNC_COMMIT
fsync: $FSYNC
shared_buffers: $SHARED_BUFFERS
full_page_writes: $FPW
wal_sync_method: $WAL_SYNC
commit_delay: $COMMIT_DELAY
max_wal_size: $MAX_WAL
cpu_cores: $CORES
duration_s: $DURATION
body_bytes: $BODY_BYTES
EOF
cat "$WORK/results"
