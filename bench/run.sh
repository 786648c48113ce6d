#!/usr/bin/env bash
# `just bench`: Switchboard's throughput, latency and memory next to the
# anchors (bench/pg-ceiling.sh: PostgreSQL's own ceilings; and
# bench/peer-graphile-worker.sh: graphile-worker), all measured in this one run
# on this machine. Prints a markdown table and writes the figures as JSON
# under bench/results/ (bench/report.py).
#
#   BENCH_QUICK=1        shorter anchor and board runs (noisier)
#   BENCH_BATCH=500      worker --batch-size for the drain runs
#   BENCH_SKIP_ANCHORS=1 skip the anchor scripts (ratios left empty)
#   BENCH_ONLY=board     run only these sections (comma-separated: anchors,
#                        ingest, worker, e2e, prune, pgbouncer, board, board_callcentre,
#                        login, history, deliveries); a
#                        partial run writes its report to .data/bench/results, not bench/results
#   BENCH_HISTORY_CALLS=10000000  calls the history section searches
#   BENCH_DELIVERY_EVENTS=20000    webhooks whose events the deliveries drain sends
#   BENCH_DELIVERY_MODE=handover   the deliveries' steady run: `worker run --deliver`
#                        (handover), or `worker run` + `worker deliver` (claimed)
#   BENCH_DELIVERY_FAILING=1       0: the steady run without its failing endpoint
#   BENCH_DELIVERY_WORKERS=1       `worker run --deliver` processes in the steady run
#   BENCH_BOARD_CLIENTS=500, BENCH_BOARD_RATE=1000, BENCH_BOARD_SECONDS=30
#                        the board section: event streams, events/s, seconds
#   BENCH_CC_EXTENSIONS=1000, BENCH_CC_QUEUES=100, BENCH_CC_CLIENTS=100, BENCH_CC_RATE=200
#                        the board_callcentre section: its call centre and load
#   BENCH_BOARD_CLIENTS_LARGE=1000  the board section's second run (streams)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BATCH="${BENCH_BATCH:-500}"
INGEST_EVENTS="${BENCH_INGEST_EVENTS:-50000}"
DRAIN_EVENTS="${BENCH_DRAIN_EVENTS:-100000}"
E2E_RATE="${BENCH_E2E_RATE:-1000}"
E2E_SECONDS="${BENCH_E2E_SECONDS:-30}"
PRUNE_EVENTS="${BENCH_PRUNE_EVENTS:-1000000}"
HISTORY_CALLS="${BENCH_HISTORY_CALLS:-10000000}"
WRK_SECONDS="${BENCH_WRK_SECONDS:-10}"
BOARD_CLIENTS="${BENCH_BOARD_CLIENTS:-500}"
BOARD_CLIENTS_LARGE="${BENCH_BOARD_CLIENTS_LARGE:-1000}"
BOARD_RATE="${BENCH_BOARD_RATE:-1000}"
if [ "${BENCH_QUICK:-0}" = 1 ]; then BOARD_SECONDS="${BENCH_BOARD_SECONDS:-12}"; else BOARD_SECONDS="${BENCH_BOARD_SECONDS:-30}"; fi
OUT="$ROOT/bench/results"
TMP="$ROOT/.data/bench"
# Whether a section runs (BENCH_ONLY unset: all of them).
want() { [ -z "${BENCH_ONLY:-}" ] || [[ ",$BENCH_ONLY," == *",$1,"* ]]; }
if [ -n "${BENCH_ONLY:-}" ]; then OUT="$TMP/results"; fi
mkdir -p "$OUT" "$TMP"
rm -f "$TMP"/*.txt "$TMP"/*.json "$TMP"/*.jsonl

log() { printf '[bench] %s\n' "$*" >&2; }

# wrk, valgrind and pgbouncer (and PostgreSQL's server when none answers),
# installed when missing, before anything compiles.
DATABASE_URL="${DATABASE_URL:-}" scripts/install-deps.sh bench
source scripts/lib.sh
source scripts/db-env.sh
source scripts/secrets-key.sh
ADMIN="${DATABASE_URL%/*}/postgres"
db_url() { echo "${DATABASE_URL%/*}/$1"; }
q() { "$PSQL" -qAt "$(db_url "$1")" -c "$2"; }
fresh_db() { "$PSQL" -q "$ADMIN" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1 ${2:+TEMPLATE $2}" >/dev/null; }

log "building release binaries"
cargo build --release --bins --quiet
B="${CARGO_TARGET_DIR:-$ROOT/target}/release"
export RUST_LOG=warn

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
# Peak resident set size (VmHWM) of a process, KiB.
peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
echo 0 >"$TMP/ingest_peak.txt"; echo 0 >"$TMP/worker_peak.txt"
note_peak() { # file pid
  local now; now="$(peak_kib "$2")"
  [ "${now:-0}" -gt "$(cat "$1")" ] && echo "$now" >"$1"; return 0
}
wait_drained() { # db limit_s: until no event is pending (the worker's own check)
  DATABASE_URL="$(db_url "$1")" "$B/worker" wait-idle --timeout "${2}s" \
    || { log "error: $1 not drained after $2 s"; return 1; }
}
echo bench-yeastar-secret-0123456789ab >"$TMP/pbx.secret"
echo bench-dialpad-secret >"$TMP/dp.secret"
setup_db() { # db
  DATABASE_URL="$(db_url "$1")" prepare_db "$B/worker" -- pbx yeastar "$TMP/pbx.secret" dp dialpad "$TMP/dp.secret" >/dev/null
}
start_ingest() { # db port (operators' port: METRICS_PORT)
  METRICS_PORT="$(free_port)"
  DATABASE_URL="$(db_url "$1")" INGEST_BIND="127.0.0.1:$2" INGEST_METRICS_BIND="127.0.0.1:$METRICS_PORT" "$B/ingest" >"$TMP/ingest-$1.log" 2>&1 &
  INGEST_PID=$!; PIDS+=("$INGEST_PID")
  wait_http "http://127.0.0.1:$2/healthz" 10 || { log "error: ingest did not start"; return 1; }
}
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
TRAFFIC_SOURCES=(--yeastar pbx=bench-yeastar-secret-0123456789ab --dialpad dp=bench-dialpad-secret)

# --- anchors ------------------------------------------------------------------
if [ "${BENCH_SKIP_ANCHORS:-0}" != 1 ] && want anchors; then
  if [ "${BENCH_QUICK:-0}" = 1 ]; then export DURATION=5 PRELOAD=300000; fi
  log "anchor: pg-ceiling.sh (PostgreSQL's own ceilings, ~1 min)"
  DATABASE_URL="$ADMIN" bash bench/pg-ceiling.sh >"$TMP/pg-ceiling.txt"
  log "anchor: peer-graphile-worker.sh (graphile-worker no-op jobs, ~30 s)"
  DATABASE_URL="$ADMIN" bash bench/peer-graphile-worker.sh >"$TMP/graphile.txt"
  # Like for like with one worker process: graphile-worker in one process.
  log "anchor: peer-graphile-worker.sh, one process, batched (~15 s)"
  DATABASE_URL="$ADMIN" WORKERS=1 ROWS=batched bash bench/peer-graphile-worker.sh >"$TMP/graphile-1.txt"
else
  : >"$TMP/pg-ceiling.txt"; : >"$TMP/graphile.txt"; : >"$TMP/graphile-1.txt"
fi

# --- 1. ingest ------------------------------------------------------------------
if want ingest; then
log "1. ingest: $INGEST_EVENTS signed Yeastar events at concurrency 64"
fresh_db sb_bench_ingest; setup_db sb_bench_ingest
PORT="$(free_port)"; start_ingest sb_bench_ingest "$PORT"
"$B/traffic" run --url "http://127.0.0.1:$PORT" --yeastar pbx=bench-yeastar-secret-0123456789ab \
  --events 2000 --concurrency 16 >/dev/null  # warm-up
"$B/traffic" run --url "http://127.0.0.1:$PORT" --yeastar pbx=bench-yeastar-secret-0123456789ab \
  --events "$INGEST_EVENTS" --concurrency 64 --json >"$TMP/ingest.json"
"$B/worker" probe --print "http://127.0.0.1:$METRICS_PORT/metrics" | awk '/^switchboard_ingest_group_commit_size_(sum|count)/ {print $1": "$2}' >"$TMP/group_commit.txt"
note_peak "$TMP/ingest_peak.txt" "$INGEST_PID"; stop "$INGEST_PID"
# The same, from an external load generator that costs the machine far less
# than the project's own (Debian's wrk, one thread, 64 connections): bodies
# signed ahead (bench/wrk/presign.py), each sent once, into a fresh database.
if command -v wrk >/dev/null 2>&1; then
  log "1. ingest: wrk, $WRK_SECONDS s at 64 connections (pre-signed distinct Yeastar webhooks)"
  python3 bench/wrk/presign.py bench-yeastar-secret-0123456789ab "$((WRK_SECONDS * 30000))" "$TMP/wrk-bodies.tsv"
  python3 bench/wrk/presign.py bench-yeastar-secret-0123456789ab 100000 "$TMP/wrk-warm.tsv" 100000000
  fresh_db sb_bench_wrk; setup_db sb_bench_wrk
  PORT="$(free_port)"; start_ingest sb_bench_wrk "$PORT"
  wrk -t1 -c16 -d2s -s bench/wrk/ingest.lua "http://127.0.0.1:$PORT" -- "$TMP/wrk-warm.tsv" pbx 1 >/dev/null  # warm-up
  WARM="$(q sb_bench_wrk "SELECT count(*) FROM events")"
  wrk -t1 -c64 -d"${WRK_SECONDS}s" --timeout 10s -s bench/wrk/ingest.lua "http://127.0.0.1:$PORT" -- "$TMP/wrk-bodies.tsv" pbx 1 \
    | grep '^{' >"$TMP/ingest-wrk.json"
  echo "$(( $(q sb_bench_wrk "SELECT count(*) FROM events") - WARM ))" >"$TMP/ingest-wrk-stored.txt"
  note_peak "$TMP/ingest_peak.txt" "$INGEST_PID"; stop "$INGEST_PID"
  # The anchor: the physical HTTP limit on this machine. `traffic
  # http-limit` reads the same bodies and checks the same HMAC (domain's
  # verification) as ingest, but touches no database; the same wrk script,
  # the same bodies, the same connections.
  log "1. ingest anchor: the HTTP limit (traffic http-limit, no database), wrk $WRK_SECONDS s at 64 connections"
  PORT="$(free_port)"
  "$B/traffic" http-limit --bind "127.0.0.1:$PORT" --secret bench-yeastar-secret-0123456789ab >"$TMP/http-limit.log" 2>&1 &
  LIMIT_PID=$!; PIDS+=("$LIMIT_PID")
  wait_http "http://127.0.0.1:$PORT/healthz" 10 || { log "error: traffic http-limit did not start"; exit 1; }
  wrk -t1 -c16 -d2s -s bench/wrk/ingest.lua "http://127.0.0.1:$PORT" -- "$TMP/wrk-warm.tsv" pbx 1 >/dev/null  # warm-up
  wrk -t1 -c64 -d"${WRK_SECONDS}s" --timeout 10s -s bench/wrk/ingest.lua "http://127.0.0.1:$PORT" -- "$TMP/wrk-bodies.tsv" pbx 1 \
    | grep '^{' >"$TMP/http-limit-wrk.json"
  stop "$LIMIT_PID"
  rm -f "$TMP/wrk-bodies.tsv" "$TMP/wrk-warm.tsv"
else
  log "1. ingest: wrk not installed (apt-get install wrk): external-generator figures left empty"
fi
fi

# --- 2. worker drain ------------------------------------------------------------
if want worker; then
log "2. worker: preloading $DRAIN_EVENTS realistic events (both providers) through ingest"
fresh_db sb_bench_src; setup_db sb_bench_src
PORT="$(free_port)"; start_ingest sb_bench_src "$PORT"
"$B/traffic" run --url "http://127.0.0.1:$PORT" "${TRAFFIC_SOURCES[@]}" \
  --events "$DRAIN_EVENTS" --concurrency 128 >/dev/null
note_peak "$TMP/ingest_peak.txt" "$INGEST_PID"; stop "$INGEST_PID"
q sb_bench_src "VACUUM ANALYZE" >/dev/null
# Runs: NAME PROCESSES CLAIM-LOOPS-EACH. "1" is one process as shipped
# (--concurrency 2); "p1" and "p2" one and two processes of one claim loop
# each, to see whether processes scale or serialise on each other; "n2" two
# processes as shipped, like for like with graphile-worker's two processes.
for run in "1 1 2" "p1 1 1" "p2 2 1" "n2 2 2"; do
  read -r name w c <<<"$run"
  fresh_db "sb_bench_w$name" sb_bench_src
  log "2. worker: draining with $w worker process(es) x $c claim loop(s), batch $BATCH"
  WP=()
  for _ in $(seq 1 "$w"); do
    DATABASE_URL="$(db_url "sb_bench_w$name")" "$B/worker" run --batch-size "$BATCH" --concurrency "$c" >>"$TMP/worker-$name.log" 2>&1 &
    WP+=("$!"); PIDS+=("$!")
  done
  wait_drained "sb_bench_w$name" 600
  for p in "${WP[@]}"; do note_peak "$TMP/worker_peak.txt" "$p"; stop "$p"; done
  q "sb_bench_w$name" "SELECT count(*), extract(epoch FROM max(processed_at) - min(processed_at))
                    FROM webhook_events" >"$TMP/drain-$name.txt"
  [ "$name" = 1 ] && q "sb_bench_w$name" "SELECT e.provider, count(*), (SELECT count(*) FROM calls c WHERE c.source = min(e.source))
                    FROM events e GROUP BY 1 ORDER BY 1" >"$TMP/events-per-call.txt"
  "$PSQL" -q "$ADMIN" -c "DROP DATABASE IF EXISTS sb_bench_w$name WITH (FORCE)" >/dev/null
done
fi

# --- 3. end to end ---------------------------------------------------------------
if want e2e; then
E2E_EVENTS=$((E2E_RATE * E2E_SECONDS))
log "3. end to end: $E2E_RATE events/s for $E2E_SECONDS s through ingest and one worker"
fresh_db sb_bench_e2e; setup_db sb_bench_e2e
PORT="$(free_port)"; start_ingest sb_bench_e2e "$PORT"
DATABASE_URL="$(db_url sb_bench_e2e)" "$B/worker" run >"$TMP/worker-e2e.log" 2>&1 &
E2E_WORKER=$!; PIDS+=("$E2E_WORKER")
# Dead tuples in the inbox, sampled every second under the steady load.
( while true; do
    q sb_bench_e2e "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'event_queue'" >>"$TMP/e2e-dead.txt" 2>/dev/null
    sleep 1
  done ) &
SAMPLER=$!; PIDS+=("$SAMPLER")
"$B/traffic" run --url "http://127.0.0.1:$PORT" "${TRAFFIC_SOURCES[@]}" \
  --events "$E2E_EVENTS" --rate "$E2E_RATE" --concurrency 32 --json >"$TMP/e2e-traffic.json"
wait_drained sb_bench_e2e 120
kill "$SAMPLER" 2>/dev/null || true
note_peak "$TMP/ingest_peak.txt" "$INGEST_PID"; note_peak "$TMP/worker_peak.txt" "$E2E_WORKER"
# Accepted (received_at, the insert) to applied (processed_at, taken in the
# transaction that writes the call and extension rows, just before commit).
q sb_bench_e2e "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.99) WITHIN GROUP (ORDER BY d), max(d), count(*)
  FROM (SELECT extract(epoch FROM processed_at - received_at) * 1000 AS d FROM webhook_events) x" >"$TMP/e2e.txt"
stop "$INGEST_PID"; stop "$E2E_WORKER"
fi

# --- 4. retention --------------------------------------------------------------
# Pruning PRUNE_EVENTS processed events: `worker prune` dropping their day
# (their partitions of events and event_results), beside the row-by-row
# delete the inbox used before (its table shape, indexes and statement:
# DELETE of 5,000 rows per transaction), both on rows of the same size.
if want prune; then
log "4. prune: $PRUNE_EVENTS processed events, whole day vs row by row"
fresh_db sb_bench_prune; setup_db sb_bench_prune
BODY="convert_to(repeat('x', 700) || i, 'UTF8')"
q sb_bench_prune "SELECT count(*) FROM switchboard_ensure_partitions((now() AT TIME ZONE 'UTC')::date - 40, (now() AT TIME ZONE 'UTC')::date - 40)" >/dev/null
q sb_bench_prune "WITH e AS (
    INSERT INTO events (day, source, provider, body, dedup_key, received_at)
    SELECT (now() AT TIME ZONE 'UTC')::date - 40, 'pbx', 'yeastar', $BODY, 'p' || i, now() - interval '40 days'
    FROM generate_series(1, $PRUNE_EVENTS) i RETURNING id, day, received_at)
  INSERT INTO event_results (id, day, processed_at, outcome, event_type, attempts)
  SELECT id, day, received_at, 'applied', 'yeastar.30011', 1 FROM e" >/dev/null
# A day more than 30 days old has long been vacuumed by autovacuum (its
# insert threshold): as here, before the timing.
q sb_bench_prune "VACUUM ANALYZE" >/dev/null
q sb_bench_prune "CHECKPOINT" >/dev/null
# Beside it, a writer inserting events one at a time (as ingest does): how
# long prune holds ingest up (its slowest insert), from 1 s before to 1 s after.
rm -f "$TMP/probe.stop"
python3 bench/insert-probe.py "$(db_url sb_bench_prune)" "$TMP/probe.stop" "$PSQL" >"$TMP/probe.txt" &
PROBE=$!
sleep 1
t0="$(date +%s%N)"
DATABASE_URL="$(db_url sb_bench_prune)" "$B/worker" prune --older-than 30d >"$TMP/prune-out.txt"
t1="$(date +%s%N)"
sleep 1; touch "$TMP/probe.stop"; wait "$PROBE" || true
echo "partition_seconds: $(python3 -c "print(($t1 - $t0) / 1e9)")" >"$TMP/prune.txt"
cat "$TMP/probe.txt" >>"$TMP/prune.txt"
echo "partition_left: $(q sb_bench_prune "SELECT count(*) FROM events WHERE dedup_key NOT LIKE 'probe-%'")" >>"$TMP/prune.txt"
q sb_bench_prune "CREATE TABLE old_inbox (
    id bigserial PRIMARY KEY, source text NOT NULL, event_type text, body bytea NOT NULL,
    headers jsonb NOT NULL DEFAULT '{}', dedup_key text NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz, outcome text, attempts integer NOT NULL DEFAULT 0, last_error text,
    next_attempt_at timestamptz, dead_at timestamptz, provider text, UNIQUE (source, dedup_key));
  CREATE INDEX ON old_inbox (id) WHERE processed_at IS NULL AND dead_at IS NULL;
  CREATE INDEX ON old_inbox USING brin (processed_at);
  CREATE INDEX ON old_inbox (id) WHERE processed_at IS NULL AND last_error IS NOT NULL;
  INSERT INTO old_inbox (source, provider, event_type, body, dedup_key, received_at, processed_at, outcome, attempts)
  SELECT 'pbx', 'yeastar', 'yeastar.30011', $BODY, 'p' || i, now() - interval '40 days', now() - interval '40 days', 'applied', 1
  FROM generate_series(1, $PRUNE_EVENTS) i;
" >/dev/null
q sb_bench_prune "VACUUM ANALYZE old_inbox" >/dev/null
q sb_bench_prune "CHECKPOINT" >/dev/null
t0="$(date +%s%N)"
while [ "$(q sb_bench_prune "WITH d AS (DELETE FROM old_inbox WHERE id IN (
           SELECT id FROM old_inbox WHERE processed_at < now() - interval '30 days'
           LIMIT 5000 FOR UPDATE SKIP LOCKED) RETURNING 1) SELECT count(*) FROM d")" -ge 5000 ]; do :; done
t1="$(date +%s%N)"
echo "rows_seconds: $(python3 -c "print(($t1 - $t0) / 1e9)")" >>"$TMP/prune.txt"
echo "rows_left: $(q sb_bench_prune "SELECT count(*) FROM old_inbox")" >>"$TMP/prune.txt"
echo "events: $PRUNE_EVENTS" >>"$TMP/prune.txt"
"$PSQL" -q "$ADMIN" -c "DROP DATABASE IF EXISTS sb_bench_prune WITH (FORCE)" >/dev/null
fi

# --- 5. through PgBouncer ----------------------------------------------------------
# The same ingest (wrk) and one-worker drain, through Debian's pgbouncer in
# transaction mode (a server pool of 8 for the test database), with
# DATABASE_TRANSACTION_POOLER=true: the figures beside the direct ones.
PGBOUNCER="$(command -v pgbouncer || ls /usr/sbin/pgbouncer 2>/dev/null || true)"
if want pgbouncer && [ -n "$PGBOUNCER" ] && command -v wrk >/dev/null 2>&1; then
  log "5. pgbouncer: ingest (wrk, $WRK_SECONDS s) and a one-worker drain through pgbouncer in transaction mode"
  PGB_DIR="$TMP/pgbouncer"; rm -rf "$PGB_DIR"; mkdir -p "$PGB_DIR"; chmod 777 "$PGB_DIR"
  PGB_PORT="$(free_port)"
  SERVER="$(python3 - "$DATABASE_URL" <<'PY'
import sys, urllib.parse
p = urllib.parse.urlparse(sys.argv[1])
line = "host=%s port=%s user=%s" % (p.hostname or "127.0.0.1", p.port or 5432, p.username or "postgres")
print(line + (" password=%s" % p.password if p.password else ""))
PY
)"
  cat >"$PGB_DIR/pgbouncer.ini" <<INI
[databases]
* = $SERVER pool_size=8
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = any
pool_mode = transaction
max_client_conn = 500
default_pool_size = 8
ignore_startup_parameters = extra_float_digits,options
logfile = $PGB_DIR/pgbouncer.log
pidfile = $PGB_DIR/pgbouncer.pid
INI
  chmod 644 "$PGB_DIR/pgbouncer.ini"
  if [ "$(id -u)" = 0 ]; then "$PGBOUNCER" -u nobody "$PGB_DIR/pgbouncer.ini" & else "$PGBOUNCER" "$PGB_DIR/pgbouncer.ini" & fi
  PGB_PID=$!; PIDS+=("$PGB_PID")
  via() { echo "postgres://switchboard@127.0.0.1:$PGB_PORT/$1"; }
  for _ in $(seq 1 50); do "$PSQL" -qAt "$(via postgres)" -c 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
  python3 bench/wrk/presign.py bench-yeastar-secret-0123456789ab "$((WRK_SECONDS * 30000))" "$TMP/wrk-bodies.tsv"
  python3 bench/wrk/presign.py bench-yeastar-secret-0123456789ab 100000 "$TMP/wrk-warm.tsv" 100000000
  fresh_db sb_bench_pgb; setup_db sb_bench_pgb
  PORT="$(free_port)"
  METRICS_PORT="$(free_port)"
  DATABASE_URL="$(via sb_bench_pgb)" DATABASE_TRANSACTION_POOLER=true INGEST_BIND="127.0.0.1:$PORT" \
    INGEST_METRICS_BIND="127.0.0.1:$METRICS_PORT" "$B/ingest" >"$TMP/ingest-pgb.log" 2>&1 &
  INGEST_PID=$!; PIDS+=("$INGEST_PID")
  wait_http "http://127.0.0.1:$PORT/healthz" 10 || log "error: ingest through pgbouncer did not start"
  wrk -t1 -c16 -d2s -s bench/wrk/ingest.lua "http://127.0.0.1:$PORT" -- "$TMP/wrk-warm.tsv" pbx 1 >/dev/null
  wrk -t1 -c64 -d"${WRK_SECONDS}s" --timeout 10s -s bench/wrk/ingest.lua "http://127.0.0.1:$PORT" -- "$TMP/wrk-bodies.tsv" pbx 1 \
    | grep '^{' >"$TMP/pgb-ingest-wrk.json"
  stop "$INGEST_PID"; rm -f "$TMP/wrk-bodies.tsv" "$TMP/wrk-warm.tsv"
  if [ -n "$(q postgres "SELECT 1 FROM pg_database WHERE datname = 'sb_bench_src'")" ]; then
    fresh_db sb_bench_pgb_w sb_bench_src
    DATABASE_URL="$(via sb_bench_pgb_w)" DATABASE_TRANSACTION_POOLER=true "$B/worker" run --batch-size "$BATCH" >"$TMP/worker-pgb.log" 2>&1 &
    WPID=$!; PIDS+=("$WPID")
    wait_drained sb_bench_pgb_w 600
    note_peak "$TMP/worker_peak.txt" "$WPID"; stop "$WPID"
    q sb_bench_pgb_w "SELECT count(*), extract(epoch FROM max(processed_at) - min(processed_at)) FROM webhook_events" >"$TMP/pgb-drain.txt"
  fi
  stop "$PGB_PID"
fi

# --- 6. live board ---------------------------------------------------------------
# The board with BOARD_CLIENTS logged-in event streams while ingest and one
# worker take a steady BOARD_RATE events/s: `traffic board-watch` holds the
# streams, sends the load, and every 100 ms a probe call (a Yeastar ring of
# one of extensions 9000-9099 in turn, with a call id of its own; a card
# shows one call, so no probe hides another); a probe's latency per stream is
# from ingest's 200 to the first SSE delta naming its call id, both read in
# that one process from one monotonic clock. The board's memory and CPU time
# are read from /proc; the probes' stored events give the time the worker
# applied them (processed_at), to split the latency into its stages. Run
# twice: BOARD_CLIENTS streams, then BOARD_CLIENTS_LARGE (files board-1000*).
board_run() { # CLIENTS SUFFIX: one board measurement, its files named board$SUFFIX*
local clients="$1" sfx="$2"
log "6. board: $clients event streams, $BOARD_RATE events/s for $BOARD_SECONDS s, a probe call every 100 ms"
fresh_db sb_bench_board; setup_db sb_bench_board
printf 'bench password 123\n' | DATABASE_URL="$(db_url sb_bench_board)" "$B/worker" user add bench --role viewer >/dev/null
PORT="$(free_port)"; start_ingest sb_bench_board "$PORT"
DATABASE_URL="$(db_url sb_bench_board)" "$B/worker" run >"$TMP/worker-board$sfx.log" 2>&1 &
BOARD_WORKER=$!; PIDS+=("$BOARD_WORKER")
BOARD_PORT="$(free_port)"; BOARD_METRICS="$(free_port)"
# The streams stand for $clients browsers but share one login: lift
# the caps per session and per user (6 and 16 by default) for them.
DATABASE_URL="$(db_url sb_bench_board)" BOARD_BIND="127.0.0.1:$BOARD_PORT" BOARD_METRICS_BIND="127.0.0.1:$BOARD_METRICS" \
  BOARD_COOKIE_SECURE=false BOARD_STREAMS_PER_SESSION=100000 BOARD_STREAMS_PER_USER=100000 \
  "$B/board" >"$TMP/board$sfx.log" 2>&1 &
BOARD_PID=$!; PIDS+=("$BOARD_PID")
wait_http "http://127.0.0.1:$BOARD_METRICS/readyz" 10 || { log "error: the board is not ready"; exit 1; }
printf 'bench password 123\n' | "$B/traffic" board-watch --board "http://127.0.0.1:$BOARD_PORT" --url "http://127.0.0.1:$PORT" \
  "${TRAFFIC_SOURCES[@]}" --user bench --clients "$clients" --rate "$BOARD_RATE" --seconds "$BOARD_SECONDS" \
  --board-pid "$BOARD_PID" --probes-out "$TMP/board$sfx-probes.jsonl" --json >"$TMP/board$sfx.json"
wait_drained sb_bench_board 120
"$B/worker" probe --print "http://127.0.0.1:$BOARD_METRICS/metrics" | grep '^switchboard_board_' >"$TMP/board$sfx-metrics.txt" || true
peak_kib "$BOARD_PID" >"$TMP/board${sfx}_peak.txt"
note_peak "$TMP/ingest_peak.txt" "$INGEST_PID"; note_peak "$TMP/worker_peak.txt" "$BOARD_WORKER"
# When the worker applied each probe: `id|received_at|processed_at`, ms since the epoch.
IDS="$(python3 -c 'import json,sys; print(",".join(str(r["event_id"]) for r in map(json.loads, open(sys.argv[1])) if r.get("event_id")))' "$TMP/board$sfx-probes.jsonl")"
q sb_bench_board "SELECT id, extract(epoch FROM received_at) * 1000, extract(epoch FROM processed_at) * 1000
  FROM webhook_events WHERE id IN (${IDS:-0})" >"$TMP/board$sfx-probes-db.txt"
stop "$BOARD_PID"; stop "$INGEST_PID"; stop "$BOARD_WORKER"
}
if want board; then
  board_run "$BOARD_CLIENTS" ""
  # The same with 1,000 streams (key board_1000_streams_p99_ms).
  board_run "$BOARD_CLIENTS_LARGE" "-1000"
fi

# --- 6b. the board of a call centre -----------------------------------------------
# The board of a site with CC_EXTENSIONS extensions, every one an agent of
# one of CC_QUEUES queues (bench/callcentre-seed.py: registrations, agents
# available or paused, a caller waiting in each queue, as signed webhooks),
# measured like section 6 by `traffic board-watch` with CC_CLIENTS streams
# and CC_RATE events/s, its probes ringing agents (3000-3099): each probe
# re-reads the card, the agent and its queue, and the delta carries them.
# Files as section 6's, prefixed `cc-`.
if want board_callcentre; then
CC_EXTENSIONS="${BENCH_CC_EXTENSIONS:-1000}"; CC_QUEUES="${BENCH_CC_QUEUES:-100}"
CC_CLIENTS="${BENCH_CC_CLIENTS:-100}"; CC_RATE="${BENCH_CC_RATE:-200}"
log "6b. board of a call centre: $CC_EXTENSIONS extensions, $CC_QUEUES queues, $CC_CLIENTS streams, $CC_RATE events/s for $BOARD_SECONDS s"
fresh_db sb_bench_cc; setup_db sb_bench_cc
printf 'bench password 123\n' | DATABASE_URL="$(db_url sb_bench_cc)" "$B/worker" user add bench --role viewer >/dev/null
PORT="$(free_port)"; start_ingest sb_bench_cc "$PORT"
DATABASE_URL="$(db_url sb_bench_cc)" "$B/worker" run >"$TMP/worker-cc.log" 2>&1 &
CC_WORKER=$!; PIDS+=("$CC_WORKER")
python3 bench/callcentre-seed.py "http://127.0.0.1:$PORT" pbx bench-yeastar-secret-0123456789ab \
  "$CC_EXTENSIONS" "$CC_QUEUES" >"$TMP/cc-seeded.txt"
wait_drained sb_bench_cc 120
q sb_bench_cc "SELECT (SELECT count(*) FROM extensions), (SELECT count(DISTINCT queue) FROM queue_agents),
  (SELECT count(*) FROM queue_agents), (SELECT count(*) FROM call_queues WHERE outcome = 'waiting')" >"$TMP/cc-seed.txt"
CC_BOARD_PORT="$(free_port)"; CC_BOARD_METRICS="$(free_port)"
DATABASE_URL="$(db_url sb_bench_cc)" BOARD_BIND="127.0.0.1:$CC_BOARD_PORT" BOARD_METRICS_BIND="127.0.0.1:$CC_BOARD_METRICS" \
  BOARD_COOKIE_SECURE=false BOARD_STREAMS_PER_SESSION=100000 BOARD_STREAMS_PER_USER=100000 \
  "$B/board" >"$TMP/board-cc.log" 2>&1 &
CC_BOARD=$!; PIDS+=("$CC_BOARD")
wait_http "http://127.0.0.1:$CC_BOARD_METRICS/readyz" 10 || { log "error: the board is not ready"; exit 1; }
printf 'bench password 123\n' | "$B/traffic" board-watch --board "http://127.0.0.1:$CC_BOARD_PORT" --url "http://127.0.0.1:$PORT" \
  "${TRAFFIC_SOURCES[@]}" --user bench --clients "$CC_CLIENTS" --rate "$CC_RATE" --seconds "$BOARD_SECONDS" \
  --probe-extension 3000 --probe-extensions 100 \
  --board-pid "$CC_BOARD" --probes-out "$TMP/cc-board-probes.jsonl" --json >"$TMP/cc-board.json"
wait_drained sb_bench_cc 120
"$B/worker" probe --print "http://127.0.0.1:$CC_BOARD_METRICS/metrics" | grep '^switchboard_board_' >"$TMP/cc-board-metrics.txt" || true
peak_kib "$CC_BOARD" >"$TMP/cc-board_peak.txt"
IDS="$(python3 -c 'import json,sys; print(",".join(str(r["event_id"]) for r in map(json.loads, open(sys.argv[1])) if r.get("event_id")))' "$TMP/cc-board-probes.jsonl")"
q sb_bench_cc "SELECT id, extract(epoch FROM received_at) * 1000, extract(epoch FROM processed_at) * 1000
  FROM webhook_events WHERE id IN (${IDS:-0})" >"$TMP/cc-board-probes-db.txt"
stop "$CC_BOARD"; stop "$INGEST_PID"; stop "$CC_WORKER"
fi

# --- 7. login flood ---------------------------------------------------------------
# The board under a flood of failed logins (unknown users and wrong
# passwords, LOGIN_FLOOD at a time of LOGIN_COUNT), its login limits raised
# so that every one is checked: resident memory before, during (sampled
# every 20 ms) and after. Each check takes Argon2id's 19 MiB from a pool of
# BOARD_PASSWORD_CHECKS (4) buffers, kept: the board grows by at most those.
if want login; then
LOGIN_COUNT="${BENCH_LOGIN_COUNT:-200}"; LOGIN_FLOOD="${BENCH_LOGIN_FLOOD:-40}"
log "7. login flood: $LOGIN_COUNT failed logins, $LOGIN_FLOOD at a time"
fresh_db sb_bench_login; setup_db sb_bench_login
printf 'bench password 123\n' | DATABASE_URL="$(db_url sb_bench_login)" "$B/worker" user add bench --role viewer >/dev/null
LOGIN_PORT="$(free_port)"; LOGIN_METRICS="$(free_port)"
DATABASE_URL="$(db_url sb_bench_login)" BOARD_BIND="127.0.0.1:$LOGIN_PORT" BOARD_METRICS_BIND="127.0.0.1:$LOGIN_METRICS" \
  BOARD_COOKIE_SECURE=false BOARD_LOGIN_FAILURES_PER_USER=1000000 BOARD_LOGIN_FAILURES_PER_ADDRESS=1000000 \
  BOARD_DB_TIMEOUT=60s "$B/board" >"$TMP/board-login.log" 2>&1 &
LOGIN_PID=$!; PIDS+=("$LOGIN_PID")
wait_http "http://127.0.0.1:$LOGIN_METRICS/readyz" 10 || { log "error: the board is not ready"; exit 1; }
python3 bench/login-flood.py "http://127.0.0.1:$LOGIN_PORT" "$LOGIN_PID" bench "$LOGIN_COUNT" "$LOGIN_FLOOD" >"$TMP/login-flood.json"
stop "$LOGIN_PID"
fi

# --- 8. history search -------------------------------------------------------------
# HISTORY_CALLS calls (bench/history-gen.sql says what they are), written a
# million at a time with every index in place, then each kind of search a
# supervisor or a CRM runs (the latest page; by number, extension, queue,
# disposition, a day's range, combinations, a page deep in the past),
# each with 10 values x 10 runs, timed inside `worker history --repeat`
# (the query alone, through domain::projection::read::history).
if want history; then
log "8. history: generating $HISTORY_CALLS calls (minutes), then timing searches"
fresh_db sb_bench_history; setup_db sb_bench_history
HURL="$(db_url sb_bench_history)"
for lo in $(seq 1 1000000 "$HISTORY_CALLS"); do
  hi=$((lo + 999999)); [ "$hi" -gt "$HISTORY_CALLS" ] && hi="$HISTORY_CALLS"
  "$PSQL" -q "$HURL" -v lo="$lo" -v hi="$hi" -v n="$HISTORY_CALLS" -f bench/history-gen.sql
done
q sb_bench_history "VACUUM ANALYZE" >/dev/null
q sb_bench_history "SELECT count(*) FROM calls" >"$TMP/history-calls.txt"
: >"$TMP/history.jsonl"
NOW_S="$(date -u +%s)"
for k in $(seq 0 9); do
  num="+1555$(printf '%07d' $(( (k * 104729 + 17) % 1000003 )))"
  ext=$(( 1000 + (k * 97) % 1000 ))
  queue=$(( 6400 + k % 20 ))
  day="$(date -u -d "@$(( NOW_S - (30 + k * 20) * 86400 ))" +%F)"
  next="$(date -u -d "@$(( NOW_S - (29 + k * 20) * 86400 ))" +%F)"
  month="$(date -u -d "@$(( NOW_S - 30 * 86400 ))" +%F)"
  deep="$(( (NOW_S - (100 + k * 20) * 86400) * 1000000 )).9223372036854775807"
  while IFS='|' read -r name args; do
    # shellcheck disable=SC2086
    DATABASE_URL="$HURL" "$B/worker" history $args --repeat 10 \
      | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"name": sys.argv[1], "ms": d["ms"]}))' "$name" \
      >>"$TMP/history.jsonl"
  done <<EOF_SEARCHES
latest|
number|--number $num
extension|--extension $ext
queue|--queue $queue
disposition|--outcome abandoned
day|--since $day --until $next
number+month|--number $num --since $month
extension+answered|--extension $ext --outcome answered
queue+day|--queue $queue --since $day --until $next
deep page|--after $deep
EOF_SEARCHES
done
"$PSQL" -q "$ADMIN" -c "DROP DATABASE IF EXISTS sb_bench_history WITH (FORCE)" >/dev/null
fi

# --- deliveries (events out) -----------------------------------------------------
# Deliveries/s: the events of DELIVERY_EVENTS webhooks, made first, then
# delivered by one `worker deliver` to one endpoint on a local receiver
# (`traffic receive`): the claims' throughput. Then webhook accepted ->
# delivery received at E2E_RATE webhooks/s for E2E_SECONDS with 5 endpoints,
# one of which answers 500 to everything (retried with backoff: it must hold
# nothing up), delivered by `worker run --deliver` (each batch's deliveries
# handed over on commit; the failing endpoint's retries claimed).
if want deliveries; then
DELIVERY_EVENTS="${BENCH_DELIVERY_EVENTS:-20000}"
log "deliveries: drain of $DELIVERY_EVENTS webhooks' events, then $E2E_RATE/s for $E2E_SECONDS s to 5 endpoints, one failing"
fresh_db sb_bench_deliv; setup_db sb_bench_deliv
DURL="$(db_url sb_bench_deliv)"
"$B/traffic" receive --out "$TMP/deliv-recv.tsv" >"$TMP/deliv-recv.addr" 2>"$TMP/deliv-recv.log" &
RECV=$!; PIDS+=("$RECV")
for _ in $(seq 50); do [ -s "$TMP/deliv-recv.addr" ] && break; sleep 0.1; done
RADDR="$(head -1 "$TMP/deliv-recv.addr")"
endpoint() { DATABASE_URL="$DURL" "$B/worker" endpoint "$@" >/dev/null; }
endpoint add drain --url "http://$RADDR/drain" --allow-private
PORT="$(free_port)"; start_ingest sb_bench_deliv "$PORT"
DATABASE_URL="$DURL" "$B/worker" run >"$TMP/worker-deliv.log" 2>&1 &
DWORKER=$!; PIDS+=("$DWORKER")
"$B/traffic" run --url "http://127.0.0.1:$PORT" "${TRAFFIC_SOURCES[@]}" \
  --events "$DELIVERY_EVENTS" --concurrency 32 --json >"$TMP/deliv-drain-traffic.json"
wait_drained sb_bench_deliv 300
DRAIN_N="$(q sb_bench_deliv "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'")"
DATABASE_URL="$DURL" "$B/worker" deliver >"$TMP/deliver-drain.log" 2>&1 &
DELIVER=$!; PIDS+=("$DELIVER")
T0="$(date +%s.%N)"
until [ "$(q sb_bench_deliv "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'")" = 0 ]; do sleep 0.05; done
T1="$(date +%s.%N)"
echo "$(peak_kib "$DELIVER")" >"$TMP/deliver_peak.txt"
stop "$DELIVER"
echo "$DRAIN_N|$(python3 -c "print($T1 - $T0)")" >"$TMP/deliv-drain.txt"
endpoint remove drain
for i in 1 2 3 4; do endpoint add "ok$i" --url "http://$RADDR/ok$i" --allow-private; done
# BENCH_DELIVERY_FAILING=0: without the failing endpoint, to see what it costs the others.
[ "${BENCH_DELIVERY_FAILING:-1}" = 0 ] || endpoint add failing --url "http://$RADDR/fail" --allow-private
note_peak "$TMP/worker_peak.txt" "$DWORKER"; stop "$DWORKER"
# BENCH_DELIVERY_MODE=claimed: `worker run` and a `worker deliver` beside
# it, every delivery claimed (no hand-over), to compare the two.
if [ "${BENCH_DELIVERY_MODE:-handover}" = claimed ]; then
  DATABASE_URL="$DURL" "$B/worker" run >"$TMP/worker-deliv-steady.log" 2>&1 &
  DWORKER=$!; PIDS+=("$DWORKER")
  DATABASE_URL="$DURL" "$B/worker" deliver >"$TMP/deliver-steady.log" 2>&1 &
  DELIVER=$!; PIDS+=("$DELIVER")
else
  DATABASE_URL="$DURL" "$B/worker" run --deliver >"$TMP/worker-deliv-steady.log" 2>&1 &
  DWORKER=$!; PIDS+=("$DWORKER")
  DELIVER=""
fi
# BENCH_DELIVERY_WORKERS=3: as many `worker run --deliver` processes (a
# call's events then land on several, and some go through the claims).
EXTRA_DWORKERS=()
for _ in $(seq 2 "${BENCH_DELIVERY_WORKERS:-1}"); do
  DATABASE_URL="$DURL" "$B/worker" run --deliver >>"$TMP/worker-deliv-steady.log" 2>&1 &
  EXTRA_DWORKERS+=("$!"); PIDS+=("$!")
done
"$B/traffic" run --url "http://127.0.0.1:$PORT" "${TRAFFIC_SOURCES[@]}" \
  --events "$((E2E_RATE * E2E_SECONDS))" --rate "$E2E_RATE" --concurrency 32 --json >"$TMP/deliv-traffic.json"
wait_drained sb_bench_deliv 120
for _ in $(seq 1200); do
  [ "$(q sb_bench_deliv "SELECT count(*) FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE e.name <> 'failing' AND d.state = 'pending'")" = 0 ] && break
  sleep 0.1
done
echo "$(peak_kib "$DWORKER")" >"$TMP/deliver_run_peak.txt"
note_peak "$TMP/worker_peak.txt" "$DWORKER"
[ -n "$DELIVER" ] && stop "$DELIVER"
for p in "${EXTRA_DWORKERS[@]}"; do stop "$p"; done
stop "$INGEST_PID"; stop "$DWORKER"; stop "$RECV"
"$PSQL" -q "$DURL" -c "CREATE TABLE bench_received (event_id text, at_ms float8, path text)" \
  -c "\copy bench_received FROM '$TMP/deliv-recv.tsv'"
# Accepted (the batch's earliest webhook, outbox.accepted_at) to received by
# a healthy endpoint, each event's first arrival per endpoint; and the
# failing endpoint's attempts meanwhile.
q sb_bench_deliv "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.99) WITHIN GROUP (ORDER BY d), max(d), count(*),
    (SELECT count(*) FROM bench_received WHERE path = '/fail'),
    (SELECT count(*) FROM outbox o WHERE o.seq >= (SELECT min(d.event_seq) FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE e.name = 'ok1'))
  FROM (SELECT r.path, o.event_id, min(r.at_ms) - extract(epoch FROM o.accepted_at) * 1000 AS d
          FROM bench_received r JOIN outbox o ON o.event_id = r.event_id
         WHERE r.path LIKE '/ok%' GROUP BY r.path, o.event_id, o.accepted_at) x" >"$TMP/deliv-steady.txt"
fi

# --- report ---------------------------------------------------------------------
python3 bench/report.py "$TMP" "$OUT" "$BATCH"
