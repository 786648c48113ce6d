# shellcheck shell=bash
# Sourced by the just recipes and the scripts: makes sure DATABASE_URL
# points at a server, and sets PSQL (the scripts' other helpers:
# scripts/lib.sh).
# With DATABASE_URL set (environment or .env) it is used as is; otherwise the
# project-local server under ./.data is started and used.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${DATABASE_URL:-}" ] && [ -f "$_root/.env" ]; then
  DATABASE_URL="$(sed -n 's/^DATABASE_URL=//p' "$_root/.env" | tail -n 1 | tr -d '"'"'")"
fi
if [ -z "${DATABASE_URL:-}" ]; then
  DATABASE_URL="$("$_root/scripts/pg-local.sh" start)"
fi
export DATABASE_URL

# psql, for the scripts that drive the binaries (bench, cluster).
# shellcheck disable=SC2034 # used by the scripts that source this file
PSQL="$(command -v psql || echo "$("$_root/scripts/pg-local.sh" bindir 2>/dev/null)/psql")"
unset _root
