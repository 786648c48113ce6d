#!/usr/bin/env bash
# `just compose-check`: docker-compose.yml run for real on a Docker engine.
# Builds the image, brings the whole stack up (project `swcheck`, nginx on
# 127.0.0.1:CHECK_PORT), adds a source and a board user, then sends signed
# webhooks through nginx in two phases, each from a sender that retries a
# failed request for 30 s:
#   1. restarts: one ingest and one worker container are SIGKILLed and
#      started again; the restarted ingest must receive traffic again
#      (counted on its own /metrics) without anyone touching nginx;
#   2. upgrade: a new image is tagged and scripts/compose-upgrade.sh (the
#      documented procedure) rolls the stack onto it.
# Then it logs in to the board through nginx and reads its event stream,
# waits until nothing is pending, and checks that every acknowledged event
# was processed exactly once (none lost, none applied twice). Tears the
# stack down (volumes too) on the way out. Needs docker, Docker Compose,
# curl and python3; not part of `just test` (CI has no Docker engine).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/lib.sh
source scripts/compose-env.sh
source scripts/exactly-once.sh

export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-swcheck}"
PORT="${CHECK_PORT:-18080}"
RATE="${CHECK_RATE:-100}"               # webhooks a second, each phase
PHASE_SECONDS="${CHECK_PHASE_SECONDS:-60}"
export SWITCHBOARD_HTTP_PORT="127.0.0.1:$PORT"
SWITCHBOARD_SECRETS_KEY="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
export SWITCHBOARD_SECRETS_KEY
LB="http://127.0.0.1:$PORT"
DIR="$ROOT/.data/compose-check"
rm -rf "$DIR"; mkdir -p "$DIR"
t0=$SECONDS
say() { printf '[check %3ds] %s\n' $((SECONDS - t0)) "$*"; }
die() { printf 'COMPOSE CHECK FAILED: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || { echo "a running Docker engine is needed (docker info fails)" >&2; exit 2; }
for tool in curl python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is needed" >&2; exit 2; }
done
# The classic builder where buildx is missing (the Dockerfile needs no BuildKit).
if docker buildx version >/dev/null 2>&1; then build=(docker build); else build=(env DOCKER_BUILDKIT=0 docker build); fi

say "building the sender (traffic), the prober (worker) and the image"
cargo build --quiet -p switchboard-traffic -p switchboard-worker --bins
B="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
TRAFFIC="$B/traffic"
"${build[@]}" -q -f deploy/Dockerfile -t switchboard:latest . >/dev/null
size="$(docker image inspect -f '{{.Size}}' switchboard:latest)"
say "image switchboard:latest: $size bytes ($((size / 1000000)) MB)"

teardown() {
  local rc=$?
  compose logs --no-color >"$DIR/compose.log" 2>&1 || true
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  echo "logs: $DIR/compose.log"
  exit "$rc"
}
compose down -v --remove-orphans >/dev/null 2>&1 || true   # an earlier run's leftovers
trap teardown EXIT

say "starting the stack"
compose up -d --no-build >"$DIR/up.log" 2>&1 || { cat "$DIR/up.log"; die "compose up"; }
for svc in ingest-1 ingest-2 board-1 board-2; do wait_healthy "$svc" 180 || die "$svc"; done
wait_http "$LB/healthz" 60 || die "nginx does not answer on $LB"
say "up: $(compose ps --services 2>/dev/null | paste -sd' ' -)"

SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
PW="$(python3 -c 'import secrets; print(secrets.token_hex(10))')"
(umask 077 && printf '%s\n' "$SECRET" >"$DIR/check.secret")
prepare_db compose run --rm --no-deps -T migrate worker -- check yeastar "$DIR/check.secret" >/dev/null
printf '%s\n' "$PW" | compose run --rm --no-deps -T migrate worker user add checker --role viewer >/dev/null
say "source 'check' and board user 'checker' added"

q() { compose exec -T postgres psql -U switchboard -d switchboard -qAtX -c "$1"; }
# Webhooks an ingest container has answered since it started (its /metrics).
ingest_requests() {
  compose exec -T "$1" worker probe --print http://127.0.0.1:9091/metrics 2>/dev/null \
    | awk '/^switchboard_ingest_requests_total/ { s += $NF } END { print s + 0 }'
}
address() { docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
# send PHASE: PHASE_SECONDS of webhooks at RATE through nginx, in the background.
send() {
  "$TRAFFIC" run --url "$LB" --yeastar "check=$SECRET" \
    --events $((RATE * PHASE_SECONDS)) --rate "$RATE" --concurrency 16 \
    --retries 0 --retry-for 30s --acked-out "$DIR/acked-$1.txt" --json >"$DIR/traffic-$1.json" &
  SENDER=$!
}
# wait_stored N: until the inbox holds at least N events (at most 60 s).
wait_stored() {
  for _ in $(seq 1 300); do
    [ "$(q 'SELECT count(*) FROM events')" -ge "$1" ] && return 0; sleep 0.2
  done
  die "fewer than $1 events stored after 60 s"
}
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$DIR/traffic-$1.json" "$2"; }

# --- phase 1: kill and restart an ingest and a worker ------------------------
say "phase 1: $((RATE * PHASE_SECONDS)) webhooks at $RATE/s; killing ingest-1 and a worker"
send restarts
wait_stored $((RATE * 5))
I1="$(compose ps -q ingest-1)"; W1="$(compose ps -q worker | sed -n 1p)"
ip_before="$(address "$I1")"
docker kill "$I1" "$W1" >/dev/null
say "SIGKILLed ingest-1 ($ip_before) and worker ${W1:0:12}"
# An address freed by the kill may go to another container (seen before:
# nginx then kept sending to whatever got it): start a throwaway one, which
# Docker may give that address (it did in some runs, not in others).
network="$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$W1")"
squatter="$(docker run -d --rm --network "$network" --entrypoint sleep switchboard:latest 600 2>/dev/null || true)"
[ -z "$squatter" ] || say "a throwaway container now has $(address "$squatter")"
wait_stored $((RATE * 10))
docker start "$I1" "$W1" >/dev/null
restarted=$SECONDS
wait_healthy ingest-1 60 || die "ingest-1 did not come back"
ip_after="$(address "$I1")"
got=0
for _ in $(seq 1 300); do
  got="$(ingest_requests ingest-1)"; [ "$got" -gt 0 ] && break; sleep 0.1
done
[ "$got" -gt 0 ] || die "the restarted ingest-1 received no webhook within 30 s"
back_after=$((SECONDS - restarted))
say "ingest-1 restarted at $ip_after (was $ip_before): answered $got webhook(s), the first within ${back_after}s of its start"
[ -z "$squatter" ] || docker rm -f "$squatter" >/dev/null 2>&1 || true
rc_restarts=0; wait "$SENDER" || rc_restarts=$?
say "phase 1 sender: sent $(field restarts sent), acknowledged $(field restarts acknowledged), failed $(field restarts failed), $(field restarts retried) retried"
i1_total="$(ingest_requests ingest-1)"; i2_total="$(ingest_requests ingest-2)"
say "webhooks answered since their start: ingest-1 $i1_total, ingest-2 $i2_total"

# --- phase 2: upgrade under traffic ------------------------------------------
say "phase 2: $((RATE * PHASE_SECONDS)) webhooks at $RATE/s; upgrading"
old_image="$(docker image inspect -f '{{.Id}}' switchboard:latest)"
send upgrade
stored_now="$(q 'SELECT count(*) FROM events')"
wait_stored $((stored_now + RATE * 3))
# A new image (same binaries, new id): what a release looks like to compose.
printf 'FROM switchboard:latest\nLABEL org.opencontainers.image.revision=compose-check-%s\n' "$(date +%s)" \
  | "${build[@]}" -q -t switchboard:latest - >/dev/null
new_image="$(docker image inspect -f '{{.Id}}' switchboard:latest)"
[ "$new_image" != "$old_image" ] || die "the new image has the old id"
up0=$SECONDS
scripts/compose-upgrade.sh
say "upgrade took $((SECONDS - up0)) s"
rc_upgrade=0; wait "$SENDER" || rc_upgrade=$?
say "phase 2 sender: sent $(field upgrade sent), acknowledged $(field upgrade acknowledged), failed $(field upgrade failed), $(field upgrade retried) retried"
stale=0
for svc in ingest-1 ingest-2 board-1 board-2 worker; do
  for id in $(compose ps -q "$svc"); do
    [ "$(docker inspect -f '{{.Image}}' "$id")" = "$new_image" ] || { stale=1; say "$svc ${id:0:12} still runs the old image"; }
  done
done
[ "$stale" -eq 0 ] || die "not every container runs the new image"
say "every ingest, board and worker container runs the new image ${new_image:7:12}"
n1="$(ingest_requests ingest-1)"; n2="$(ingest_requests ingest-2)"
say "webhooks answered by the new ingest containers: ingest-1 $n1, ingest-2 $n2"
[ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] || die "a recreated ingest received no traffic"

# --- the board, through nginx ------------------------------------------------
code="$(curl -sS -o /dev/null -w '%{http_code}' -c "$DIR/cookies" -H "Origin: $LB" \
  --data-urlencode username=checker --data-urlencode "password=$PW" "$LB/login")"
[ "$code" = 303 ] || die "board login through nginx answered $code"
curl -sS -N -b "$DIR/cookies" --max-time 3 "$LB/events" >"$DIR/events.txt" 2>/dev/null || true
grep -q '^event: snapshot' "$DIR/events.txt" || die "no snapshot on the board's event stream"
say "board: logged in through nginx; the event stream opened with a snapshot of $(grep -o '"number"' "$DIR/events.txt" | wc -l) card(s)"

# --- exactly once ------------------------------------------------------------
compose run --rm --no-deps -T migrate worker wait-idle --timeout 120s >/dev/null \
  || say "the queue did not drain within 120 s (the figures say how much is left)"
cat "$DIR/acked-restarts.txt" "$DIR/acked-upgrade.txt" >"$DIR/acked.txt"
sent=$(( $(field restarts sent) + $(field upgrade sent) ))
echo
echo "--- figures (both phases)"
printf '%-44s %s\n' "webhooks sent" "$sent" "image size (bytes)" "$size" \
  "restarted ingest: first webhook after (s)" "$back_after" "upgrade: 5xx or refused, then retried" "$(field upgrade retried)"
ok=0; exactly_once "$DIR/acked.txt" $((rc_restarts + rc_upgrade)) || ok=$?
# Every request acknowledged in the end (the sender retried for 30 s).
acked_all=$(( $(field restarts acknowledged) + $(field upgrade acknowledged) ))
[ "$acked_all" -eq "$sent" ] || { echo "acknowledged $acked_all of $sent requests"; ok=1; }
[ "$ok" -eq 0 ] || die "see the figures above"
echo "compose check passed: $sent sent, $acked_all acknowledged, every acknowledged event processed exactly once, none lost"
