#!/usr/bin/env bash
# `just down`: stop the ingest, worker and board started by `just up`, and the
# project-local PostgreSQL (unless --keep-db).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for name in board ingest worker; do
  pidfile="$ROOT/.data/run/$name.pid"
  [ -f "$pidfile" ] || continue
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    echo "stopped $name ($pid)"
  fi
  rm -f "$pidfile"
done
if [ "${1:-}" != "--keep-db" ] && [ -f "$ROOT/.data/pg/PG_VERSION" ]; then
  "$ROOT/scripts/pg-local.sh" stop
fi
