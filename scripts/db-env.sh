# Sourced by the just recipes: makes sure DATABASE_URL points at a server,
# and defines the helpers the scripts share.
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

# Helpers of the scripts that drive the binaries (bench, cluster).
PSQL="$(command -v psql || echo "$("$_root/scripts/pg-local.sh" bindir 2>/dev/null)/psql")"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
unset _root
