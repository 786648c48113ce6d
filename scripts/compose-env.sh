# shellcheck shell=bash
# Sourced by the compose scripts: `compose ARGS...` runs Docker Compose v2
# (`docker compose`) when the Docker CLI has it, else v1 (`docker-compose`,
# 1.29 or later: depends_on conditions), or what COMPOSE names.
if [ -n "${COMPOSE:-}" ]; then
  read -r -a COMPOSE_CMD <<<"$COMPOSE"
elif docker compose version >/dev/null 2>&1; then
  COMPOSE_CMD=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  COMPOSE_CMD=(docker-compose)
else
  echo "Docker Compose is needed (docker compose, or docker-compose 1.29+)" >&2; exit 2
fi
compose() { "${COMPOSE_CMD[@]}" "$@"; }

# container_health SERVICE: the health of the service's (first) container:
# healthy, starting, unhealthy, or none when it is not running.
container_health() {
  local id
  id="$(compose ps -q "$1" | sed -n 1p)"
  [ -n "$id" ] || { echo none; return; }
  docker inspect -f '{{if .State.Running}}{{if .State.Health}}{{.State.Health.Status}}{{else}}running{{end}}{{else}}none{{end}}' "$id" 2>/dev/null || echo none
}

# wait_healthy SERVICE SECONDS: until the service's container is healthy.
wait_healthy() {
  local svc="$1" limit="$2" start=$SECONDS h
  while :; do
    h="$(container_health "$svc")"
    [ "$h" = healthy ] && return 0
    if [ $((SECONDS - start)) -ge "$limit" ]; then
      echo "$svc is not healthy after ${limit}s (health: $h)" >&2; return 1
    fi
    sleep 0.5
  done
}
