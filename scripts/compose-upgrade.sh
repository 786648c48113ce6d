#!/usr/bin/env bash
# `just compose-upgrade`: move a running docker-compose stack to the image
# now tagged switchboard:latest (build or pull it first) without refusing
# webhooks: migrate, then the roles, then one ingest and one board at a
# time (each replaced only when the other serves, and the next only once the
# new one is healthy), then the workers, then nginx if its configuration
# changed. Migrations are additive, so the old instances keep working on the
# new schema while they are replaced.
#
# A webhook sent during the upgrade is answered by the instance that is up;
# one caught by an instance as it stops gets a 502 at worst (nginx retries a
# refused connection on the other instance first), which a sender that
# retries sends again. Run it from the directory of docker-compose.yml, with
# the same COMPOSE_PROJECT_NAME and environment as `up`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/compose-env.sh"
HEALTH_WAIT="${HEALTH_WAIT:-90}"
t0=$SECONDS
say() { printf '[upgrade %3ds] %s\n' $((SECONDS - t0)) "$*"; }
# up ARGS...: `compose up -d --no-deps ARGS`, its output indented; fails
# (and so stops the upgrade) when compose does.
up() {
  local out rc=0
  out="$(compose up -d --no-deps "$@" 2>&1)" || rc=$?
  printf '%s\n' "$out" | sed '/^$/d; s/^/    /'
  return "$rc"
}

# STOP_INGEST_FIRST=1: for an upgrade whose migrations the running ingest
# cannot write through (README, "Schema changes and old instances"): both
# ingests are stopped before migrating and started together after, so that
# senders get 502 (and retry) instead of the old version's refusals.
if [ "${STOP_INGEST_FIRST:-0}" = 1 ]; then
  say "stopping both ingest instances before migrating (senders get 502 and retry)"
  compose stop ingest-1 ingest-2 2>&1 | sed '/^$/d; s/^/    /'
fi

say "migrating (worker migrate, then deploy/roles.sql)"
compose run --rm --no-deps -T migrate >/dev/null
compose run --rm --no-deps -T roles >/dev/null

pairs=("ingest-1 ingest-2" "board-1 board-2")
if [ "${STOP_INGEST_FIRST:-0}" = 1 ]; then
  say "starting both ingest instances on the new image"
  up ingest-1 ingest-2
  wait_healthy ingest-1 "$HEALTH_WAIT"; wait_healthy ingest-2 "$HEALTH_WAIT"
  say "ingest-1 and ingest-2 healthy"
  pairs=("board-1 board-2")
fi
for pair in "${pairs[@]}"; do
  for svc in $pair; do
    # Its twin must be serving before this one goes away.
    for other in $pair; do
      [ "$other" = "$svc" ] || wait_healthy "$other" "$HEALTH_WAIT"
    done
    say "replacing $svc"
    up "$svc"
    wait_healthy "$svc" "$HEALTH_WAIT"
    say "$svc healthy"
  done
done

# Workers may all restart at once: events wait in the queue meanwhile
# (nothing is acknowledged by a worker). Keep the running count.
workers="$(compose ps -q worker | wc -l | tr -d ' ')"
[ "$workers" -ge 1 ] || workers=3
say "replacing $workers worker(s)"
up --scale "worker=$workers" worker
say "nginx (recreated only if its configuration changed)"
up nginx
say "done"
