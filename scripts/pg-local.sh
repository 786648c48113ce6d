#!/usr/bin/env bash
# A project-local PostgreSQL server under ./.data/pg, made with the installed
# PostgreSQL binaries, for `just up` and `just test` when no DATABASE_URL is
# set. Usage: scripts/pg-local.sh start|stop|status|url|bindir
#
#   SWITCHBOARD_PG_PORT  port on 127.0.0.1 (default 54329)
#   PG_BINDIR            directory holding initdb/pg_ctl/psql (default: found)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_ROOT="$ROOT/.data"
PGDATA="$DATA_ROOT/pg"
SOCKDIR="$DATA_ROOT/run"
LOG="$DATA_ROOT/logs/postgres.log"
PORT="${SWITCHBOARD_PG_PORT:-54329}"

say() { printf '[pg-local] %s\n' "$*" >&2; }

find_bindir() {
  if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/initdb" ]; then echo "$PG_BINDIR"; return; fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r) \
           /usr/local/pgsql/bin /opt/homebrew/opt/postgresql@*/bin /usr/local/opt/postgresql@*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  done
  if command -v pg_config >/dev/null 2>&1; then
    d="$(pg_config --bindir)"
    if [ -x "$d/initdb" ]; then echo "$d"; return; fi
  fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"; return
  fi
  cat >&2 <<'MSG'
[pg-local] no PostgreSQL server binaries (initdb, pg_ctl) found.
  Debian/Ubuntu:  sudo apt-get install postgresql     (binaries in /usr/lib/postgresql/<version>/bin)
  Fedora:         sudo dnf install postgresql-server
  macOS:          brew install postgresql@15
  or point PG_BINDIR at a directory holding initdb and pg_ctl,
  or set DATABASE_URL to a server you already run.
MSG
  exit 2
}

# initdb and postgres refuse to run as root: run them as the postgres user.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
      say "running as root and there is no 'postgres' user to own the cluster; run as a normal user"
      exit 2
    fi
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

url() { echo "postgres://postgres@127.0.0.1:$PORT/${1:-switchboard}"; }

running() { [ -f "$PGDATA/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

start() {
  mkdir -p "$DATA_ROOT/logs" "$SOCKDIR"
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$SOCKDIR" "$DATA_ROOT/logs"
    [ -f "$LOG" ] && chown postgres "$LOG"
    # The server must be able to reach its directories.
    chmod o+x "$ROOT" "$DATA_ROOT" 2>/dev/null || true
  fi
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    say "creating a PostgreSQL cluster in $PGDATA with $BIN"
    mkdir -p "$PGDATA"
    [ "$(id -u)" = 0 ] && chown postgres "$PGDATA"
    as_owner "$BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if running; then
    say "already running on 127.0.0.1:$PORT"
  else
    say "starting PostgreSQL on 127.0.0.1:$PORT (log: $LOG)"
    as_owner "$BIN/pg_ctl" -D "$PGDATA" -l "$LOG" -w -t 60 \
      -o "-p $PORT -k $SOCKDIR -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  fi
  for _ in $(seq 1 100); do
    if "$BIN/psql" -qAt "$(url postgres)" -c 'select 1' >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  if [ "$("$BIN/psql" -qAt "$(url postgres)" -c "select count(*) from pg_database where datname = 'switchboard'")" = 0 ]; then
    "$BIN/psql" -q "$(url postgres)" -c 'create database switchboard' >/dev/null
  fi
}

stop() {
  if running; then
    as_owner "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
    say "stopped"
  fi
}

BIN="$(find_bindir)"
case "${1:-}" in
  start) start; url ;;
  stop) stop ;;
  status) if running; then echo "running: $(url)"; else echo "stopped"; exit 1; fi ;;
  url) url "${2:-switchboard}" ;;
  bindir) echo "$BIN" ;;
  *) echo "usage: $0 start|stop|status|url|bindir" >&2; exit 2 ;;
esac
