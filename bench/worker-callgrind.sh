#!/usr/bin/env bash
# Instructions the worker executes per event, counted by callgrind, for each
# provider's mix (the traffic generator's realistic scenarios of that
# provider alone): repeatable for the same binary and inputs whatever else
# the machine does. For each provider and each of N1 and N2 events: a fresh
# database, the events stored through the release ingest (not measured),
# then `worker process --once --batch-size 500` under `valgrind
# --tool=callgrind` draining them; the difference of the two counts over
# N2 - N1 is the cost per event, start-up and shutdown cancelled out. The
# N2 profiles stay in .data/callgrind/worker-PROVIDER.out for
# `callgrind_annotate --inclusive=yes`.
#   bench/worker-callgrind.sh                 (N1=1000 N2=5000, both providers)
#   PROVIDERS=dialpad bench/worker-callgrind.sh
#   BENCH_BIN=DIR bench/worker-callgrind.sh   (the binaries in DIR, unbuilt)
# Needs valgrind (Debian: apt-get install valgrind) and PostgreSQL as for
# `just test`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/lib.sh
source scripts/db-env.sh
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
N1="${N1:-1000}"; N2="${N2:-5000}"; BATCH="${BATCH:-500}"
PROVIDERS="${PROVIDERS:-yeastar dialpad}"
DIR="$ROOT/.data/callgrind"; mkdir -p "$DIR"
# BENCH_BIN=DIR: measure the binaries in DIR as they are (e.g. a copy of
# an earlier build, for a before/after), without building.
if [ -n "${BENCH_BIN:-}" ]; then B="$BENCH_BIN"; else
  cargo build --quiet --release -p switchboard-ingest -p switchboard-worker -p switchboard-traffic
  B="${CARGO_TARGET_DIR:-$ROOT/target}/release"
fi
YSECRET=callgrind-yeastar-secret-0123456789
DSECRET=callgrind-dialpad-secret
echo "$YSECRET" >"$DIR/pbx.secret"; echo "$DSECRET" >"$DIR/dp.secret"
export SWITCHBOARD_SECRETS_KEY="${SWITCHBOARD_SECRETS_KEY:-$(head -c 32 /dev/zero | base64)}"
export RUST_LOG=warn
DB=switchboard_worker_callgrind
admin="${DATABASE_URL%/*}/postgres"
export DATABASE_URL="${DATABASE_URL%/*}/$DB"
count() { # PROVIDER N: prints the instructions of a worker run that drained N events of PROVIDER
  local provider="$1" n="$2" port pid src
  "$PSQL" -q "$admin" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null 2>&1
  prepare_db "$B/worker" -- pbx yeastar "$DIR/pbx.secret" dp dialpad "$DIR/dp.secret" >/dev/null 2>&1
  port="$(free_port)"
  "$B/ingest" --bind "127.0.0.1:$port" >"$DIR/worker-ingest.log" 2>&1 &
  pid=$!
  wait_http "http://127.0.0.1:$port/healthz" 30
  if [ "$provider" = yeastar ]; then src=(--yeastar "pbx=$YSECRET"); else src=(--dialpad "dp=$DSECRET"); fi
  "$B/traffic" run --url "http://127.0.0.1:$port" "${src[@]}" --events "$n" --concurrency 16 \
    --first-call 1000 --seed 7 >/dev/null
  kill -TERM "$pid"; wait "$pid" || true
  "$PSQL" -qAt "$DATABASE_URL" -c "VACUUM ANALYZE" >/dev/null
  valgrind --tool=callgrind --callgrind-out-file="$DIR/worker-$provider.$n.out" \
    "$B/worker" process --once --batch-size "$BATCH" >"$DIR/worker-$provider.$n.txt" 2>"$DIR/worker-$provider.$n.log"
  # Events stored (identical Yeastar bodies are one event), all applied.
  local done; done="$(sed -n 's/^processed \([0-9]*\) event(s): \([0-9]*\) applied.*/\1 \2/p' "$DIR/worker-$provider.$n.txt")"
  read -r claimed applied <<<"$done"
  [ -n "${claimed:-}" ] && [ "$claimed" = "$applied" ] && [ "$claimed" -gt $((n * 9 / 10)) ] \
    || { echo "worker-callgrind: $provider: $n sent, got: $(cat "$DIR/worker-$provider.$n.txt")" >&2; exit 1; }
  echo "$(awk '/^(summary|totals):/ { print $2; exit }' "$DIR/worker-$provider.$n.out") $claimed"
}
for provider in $PROVIDERS; do
  read -r a ea <<<"$(count "$provider" "$N1")"; read -r b eb <<<"$(count "$provider" "$N2")"
  cp "$DIR/worker-$provider.$N2.out" "$DIR/worker-$provider.out"
  echo "worker: $provider: $(( (b - a) / (eb - ea) )) instructions per event ($ea -> $eb events, batch $BATCH)"
done
"$PSQL" -q "$admin" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1
