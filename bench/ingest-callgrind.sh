#!/usr/bin/env bash
# Instructions ingest executes per accepted webhook, counted by callgrind:
# repeatable for the same binary and inputs whatever else the machine does
# (wall-clock figures on a shared 2-core machine move by 15%). Runs the
# release ingest under `valgrind --tool=callgrind` twice, for N1 and N2
# webhooks sent one at a time by the traffic generator (fixed seed and call
# numbers), and divides the difference by N2 - N1, so start-up and
# shutdown cancel out. The second run's profile stays in
# .data/callgrind/cg.out for `callgrind_annotate --inclusive=yes`.
#   bench/ingest-callgrind.sh            (N1=500 N2=2500)
#   BENCH_BIN=DIR bench/ingest-callgrind.sh   (the binaries in DIR, unbuilt)
# Needs valgrind (Debian: apt-get install valgrind) and PostgreSQL as for
# `just test`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/lib.sh
source scripts/db-env.sh
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
N1="${N1:-500}"; N2="${N2:-2500}"
DIR="$ROOT/.data/callgrind"; mkdir -p "$DIR"
# BENCH_BIN=DIR: measure the binaries in DIR as they are (ingest, worker,
# traffic; e.g. a copy of an earlier build, for a before/after), unbuilt.
if [ -n "${BENCH_BIN:-}" ]; then B="$BENCH_BIN"; T="$BENCH_BIN/traffic"; else
  cargo build --quiet --release -p switchboard-ingest -p switchboard-worker
  cargo build --quiet -p switchboard-traffic
  B="${CARGO_TARGET_DIR:-$ROOT/target}/release"; T="${CARGO_TARGET_DIR:-$ROOT/target}/debug/traffic"
fi
SECRET=callgrind-yeastar-secret-0123456789
echo "$SECRET" >"$DIR/pbx.secret"
export SWITCHBOARD_SECRETS_KEY="${SWITCHBOARD_SECRETS_KEY:-$(head -c 32 /dev/zero | base64)}"
DB=switchboard_callgrind
admin="${DATABASE_URL%/*}/postgres"
export DATABASE_URL="${DATABASE_URL%/*}/$DB"
count() { # N: prints the instructions of an ingest run that accepted N webhooks
  "$PSQL" -q "$admin" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null 2>&1
  prepare_db "$B/worker" -- pbx yeastar "$DIR/pbx.secret" >/dev/null 2>&1
  local port; port="$(free_port)"
  RUST_LOG=info LOG_FORMAT=json valgrind --tool=callgrind --callgrind-out-file="$DIR/cg.$1.out" \
    "$B/ingest" --bind "127.0.0.1:$port" --workers 1 >"$DIR/ingest.$1.log" 2>&1 &
  local pid=$!
  wait_http "http://127.0.0.1:$port/healthz" 60
  "$T" run --url "http://127.0.0.1:$port" --yeastar "pbx=$SECRET" --events "$1" --concurrency 1 \
    --first-call 1000 --seed 7 >"$DIR/traffic.$1.txt"
  kill -TERM "$pid"; wait "$pid" || true
  awk '/^(summary|totals):/ { print $2; exit }' "$DIR/cg.$1.out"
}
a="$(count "$N1")"; b="$(count "$N2")"
cp "$DIR/cg.$N2.out" "$DIR/cg.out"
"$PSQL" -q "$admin" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
echo "ingest: $(( (b - a) / (N2 - N1) )) instructions per accepted webhook ($N1 -> $N2 webhooks, one at a time)"
