# Sourced by the just recipes: makes sure DATABASE_URL points at a server.
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
unset _root
