#!/usr/bin/env bash
# `just up`: start Switchboard (database, migrations, demo source, ingest,
# worker and the browser board in the background, a demo operator for the
# board) and show a demo call changing an extension's status on the board.
# `just down` stops everything.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/lib.sh
# PostgreSQL's server for the project-local database, unless DATABASE_URL
# names one that answers (installed, or the command to run, before compiling).
scripts/install-deps.sh up
source scripts/db-env.sh
source scripts/secrets-key.sh

BIND="${INGEST_BIND:-127.0.0.1:8080}"
BOARD_ADDR="${BOARD_BIND:-127.0.0.1:8090}"
RUN="$ROOT/.data/run"
LOGS="$ROOT/.data/logs"
mkdir -p "$RUN" "$LOGS"
B="${CARGO_TARGET_DIR:-$ROOT/target}/debug"

echo "==> building"
cargo build --workspace --bins --quiet

SECRET_FILE="$ROOT/.data/demo-secret"
if [ ! -s "$SECRET_FILE" ]; then
  head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 >"$SECRET_FILE"
fi
SECRET="$(cat "$SECRET_FILE")"
echo "==> migrating, adding the demo source"
prepare_db "$B/worker" -- demo-pbx yeastar "$SECRET_FILE"

# The board's demo operator: its password is generated once and kept
# (mode 600); re-adding sets the same password and role and enables it.
PW_FILE="$ROOT/.data/demo-operator-password"
if [ ! -s "$PW_FILE" ]; then
  PW="$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
  (umask 077 && printf '%s\n' "${PW:0:20}" >"$PW_FILE")
fi
PW="$(head -n 1 "$PW_FILE")"
printf '%s\n' "$PW" | "$B/worker" user add demo --role operator

# Restart our own processes from an earlier `just up`.
"$ROOT/scripts/down.sh" --keep-db >/dev/null 2>&1 || true

host="${BIND%:*}"; port="${BIND##*:}"
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "error: $BIND is already in use; set INGEST_BIND to a free address (e.g. INGEST_BIND=127.0.0.1:8081 just up)" >&2
  exit 1
fi
board_host="${BOARD_ADDR%:*}"; board_port="${BOARD_ADDR##*:}"
if (exec 3<>"/dev/tcp/$board_host/$board_port") 2>/dev/null; then
  echo "error: $BOARD_ADDR is already in use; set BOARD_BIND to a free address (e.g. BOARD_BIND=127.0.0.1:8091 just up)" >&2
  exit 1
fi

echo "==> starting ingest on http://$BIND, one worker and the board on http://$BOARD_ADDR (logs in .data/logs)"
METRICS_BIND="${INGEST_METRICS_BIND:-127.0.0.1:9091}"
INGEST_BIND="$BIND" INGEST_METRICS_BIND="$METRICS_BIND" nohup "$B/ingest" >>"$LOGS/ingest.log" 2>&1 </dev/null &
echo $! >"$RUN/ingest.pid"
nohup "$B/worker" run >>"$LOGS/worker.log" 2>&1 </dev/null &
echo $! >"$RUN/worker.pid"
# Plain HTTP on loopback: browsers may refuse a Secure cookie over it.
BOARD_METRICS="${BOARD_METRICS_BIND:-127.0.0.1:9092}"
BOARD_BIND="$BOARD_ADDR" BOARD_METRICS_BIND="$BOARD_METRICS" BOARD_COOKIE_SECURE=false \
  nohup "$B/board" >>"$LOGS/board.log" 2>&1 </dev/null &
echo $! >"$RUN/board.pid"

# Until NAME answers on URL (10 s at most), else its log's end.
wait_up() {
  wait_http "$2" 10 && return 0
  echo "error: $1 did not start; see $LOGS/$1.log" >&2
  tail -n 20 "$LOGS/$1.log" >&2 || true
  exit 1
}
wait_up ingest "http://$BIND/healthz"
wait_up board "http://$BOARD_ADDR/healthz"

cat <<MSG

Switchboard is running.
  webhooks:  POST http://$BIND/webhooks/<source>   (demo source: demo-pbx, Yeastar)
  health:    http://$BIND/healthz   (operators only: http://$METRICS_BIND/readyz  /metrics)
  board:     http://$BOARD_ADDR/   (operators only: http://$BOARD_METRICS/readyz  /metrics)
  database:  $DATABASE_URL
  logs:      .data/logs/ingest.log  .data/logs/worker.log  .data/logs/board.log
  stop:      just down

MSG

CALL_ID="$(date +%s).$((RANDOM % 1000))"
demo() { "$B/traffic" demo --url "http://$BIND" --source demo-pbx --secret "$SECRET" \
           --call-id "$CALL_ID" --extension 2002 --steps "$1"; }
board() { echo; echo "--- board: $1"; "$B/worker" board --source demo-pbx --wait-idle 10s; echo; }

board "before the call"
echo "==> demo call $CALL_ID: +15555550100 calls extension 2002"
demo ringing
board "extension 2002 ringing"
demo answered,hold
board "during the call (answered, then on hold: still in call)"
demo bye,cdr
board "after the call (hung up, CDR with recording)"

echo "==> the live board follows calls as they happen; open it in a browser:"
echo "board: http://$BOARD_ADDR/  (login: demo / $PW)"
