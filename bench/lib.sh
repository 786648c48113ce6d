# shellcheck shell=bash
# bench/lib.sh: what the anchor scripts of `just bench` (pg-ceiling.sh,
# peer-graphile-worker.sh) share: messages, the PostgreSQL tools, the URLs,
# children under timeout, a scratch database that is dropped however the
# script ends. Sourced, never run:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Expects, set before sourcing (with `set -euo pipefail` already on):
#   BENCH_NAME    the script's name: prefix of its messages and of its
#                 temporary directory
# and before bench_init:
#   DATABASE_URL  admin URL (postgres://, postgresql:// or key=value)
#   BENCH_DB      scratch database; checked to be made of [a-z0-9_]
#   KEEP_DB       1 keeps the scratch database
#   PG_BINDIR     optional, where the PostgreSQL client programs are
#
# Provides, on sourcing:
#   fd 3          the script's own stderr (messages go there, so that they are
#                 seen even when a signal arrives while a command's output is
#                 sent to a file)
#   say MSG...    a progress line on fd 3
#   fail CODE MSG...  an error line on fd 3, then exit CODE
#   positive NAME VALUE  fail 4 unless VALUE is a whole number > 0
#   pg_program NAME  the path of a PostgreSQL client program, or status 1
#   with_db URL DB, masked URL  (functions; see below)
# bench_init, after the script has checked its own settings:
#   PSQL          psql (fail 2 if not found; also fail 2 without timeout)
#   ADMIN_URL, BENCH_URL  DATABASE_URL, and the same server with BENCH_DB
#   PGCONNECT_TIMEOUT  exported, 10 s unless set
#   WORK          a temporary directory, removed at exit
#   CHILD, DB_MADE  the running bounded child; 1 once the scratch database
#                 may exist (create_db sets it)
#   traps         EXIT: on_exit; INT and HUP: exit 130; TERM: exit 143.
#                 on_exit stops CHILD, drops the scratch database (unless
#                 KEEP_DB=1), calls cleanup_extra if the script defines that
#                 function, removes WORK and exits with the status it got.
# and the functions
#   sql URL ARGS...     psql, unaligned tuples only, under a 60 s limit
#   bounded LIMIT_S CMD...  CMD in the background under timeout (see below)
#   drop_db, create_db, finish_db  the scratch database: drop, (re)create,
#                       drop at the end of a successful run unless KEEP_DB=1
#   check_server        fail 2 unless ADMIN_URL connects and may create databases
#   free_connections    connections the server still accepts from non-superusers

exec 3>&2
say() { printf '[%s] %s\n' "$BENCH_NAME" "$*" >&3; }
fail() { local code=$1; shift; printf '[%s] error: %s\n' "$BENCH_NAME" "$*" >&3; exit "$code"; }

positive() { case "$2" in ''|*[!0-9]*) fail 4 "$1 must be a positive integer, not '$2'";; esac; [ "$2" -gt 0 ] || fail 4 "$1 must be > 0"; }

# --- tools ----------------------------------------------------------------------
# A PostgreSQL client program: PG_BINDIR, then PATH, then the places
# scripts/pg-local.sh looks in (Debian keeps pgbench in /usr/lib/postgresql/N/bin).
pg_program() {
  local d
  if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/$1" ]; then echo "$PG_BINDIR/$1"; return 0; fi
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"; return 0; fi
  # shellcheck disable=SC2012 # fixed Debian paths, newest version first
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r) /usr/local/pgsql/bin \
           /opt/homebrew/opt/postgresql@*/bin /usr/local/opt/postgresql@*/bin; do
    if [ -x "$d/$1" ]; then echo "$d/$1"; return 0; fi
  done
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/$1" ]; then
    echo "$(pg_config --bindir)/$1"; return 0
  fi
  return 1
}

# --- URLs -------------------------------------------------------------------------
# The same server and credentials, another database. A URL keeps its query
# (host=/socket/dir, sslmode=...); a key=value string gets a last dbname=.
with_db() { # URL DB
  case "$1" in
    postgres://*|postgresql://*)
      local base="${1%%\?*}" query=""
      [ "$base" = "$1" ] || query="?${1#*\?}"
      local scheme="${base%%://*}" rest="${base#*://}"
      echo "$scheme://${rest%%/*}/$2$query" ;;
    *) echo "$1 dbname=$2" ;;
  esac
}
# For messages: the URL with its password, if any, masked.
masked() { sed -E 's#^(postgres(ql)?://[^:/@]*):[^@/]*@#\1:***@#; s#password=[^ ]*#password=***#' <<<"$1"; }

# --- children: every one under timeout ----------------------------------------------
# Short statements: run in the foreground under a 60 s limit.
sql() { local url="$1"; shift; timeout -k 5 60 "$PSQL" "$url" -X -w -q -A -t -v ON_ERROR_STOP=1 "$@"; }
# Long ones (pgbench, preload, vacuum, npm, node): in the background, so that
# a signal reaches the trap at once and the trap can stop them. timeout runs
# its child in a process group of its own and passes the TERM on to all of it
# (node's worker processes included).
bounded() { # LIMIT_S CMD...
  local limit="$1" rc=0; shift
  timeout -k 10 "$limit" "$@" </dev/null 3>&- &
  CHILD=$!
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}

# --- the scratch database -------------------------------------------------------------
drop_db() { sql "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" 2>/dev/null; }
create_db() {
  drop_db >/dev/null
  DB_MADE=1
  sql "$ADMIN_URL" -c "CREATE DATABASE $BENCH_DB" >/dev/null
}
finish_db() { if [ "$KEEP_DB" != 1 ]; then drop_db >/dev/null || say "could not drop $BENCH_DB"; DB_MADE=0; fi; }

on_exit() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [ -n "$CHILD" ]; then kill -TERM "$CHILD" 2>/dev/null || true; wait "$CHILD" 2>/dev/null || true; fi
  if [ "$DB_MADE" = 1 ] && [ "$KEEP_DB" != 1 ]; then drop_db || say "could not drop $BENCH_DB"; fi
  if declare -F cleanup_extra >/dev/null; then cleanup_extra || true; fi
  rm -rf "$WORK"
  exit "$rc"
}

# psql, timeout, the URLs, WORK and the traps; call once the script's own
# settings are checked.
bench_init() {
  case "$BENCH_DB" in ''|*[!a-z0-9_]*) fail 4 "BENCH_DB must be made of [a-z0-9_]";; esac
  PSQL="$(pg_program psql)" || fail 2 "psql not found (Debian: apt-get install postgresql-client; or set PG_BINDIR)"
  command -v timeout >/dev/null 2>&1 || fail 2 "timeout (coreutils) not found"
  ADMIN_URL="$DATABASE_URL"
  # shellcheck disable=SC2034 # used by the scripts
  BENCH_URL="$(with_db "$DATABASE_URL" "$BENCH_DB")"
  export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/$BENCH_NAME.XXXXXX")"
  CHILD=""
  DB_MADE=0
  trap on_exit EXIT
  trap 'say "interrupted"; exit 130' INT HUP
  trap 'say "terminated"; exit 143' TERM
}

# --- server ---------------------------------------------------------------------------
check_server() {
  local err
  if ! err="$(sql "$ADMIN_URL" -c 'SELECT 1' 2>&1 >/dev/null)"; then
    case "$err" in *password*|*authentication*)
      err="$err (put the password in DATABASE_URL, PGPASSWORD or ~/.pgpass)";; esac
    fail 2 "cannot connect: ${err//$'\n'/ }"
  fi
  [ "$(sql "$ADMIN_URL" -c 'SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user')" = t ] \
    || fail 2 "the role of DATABASE_URL may not create databases (needs CREATEDB)"
}
free_connections() {
  sql "$ADMIN_URL" -c "SELECT current_setting('max_connections')::int
    - current_setting('superuser_reserved_connections')::int
    - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
}
