#!/usr/bin/env bash
# bench/peer-graphile-worker.sh [JOBS]: graphile-worker, the Node.js job queue
# on PostgreSQL (SKIP LOCKED claims, LISTEN/NOTIFY wake-ups), running JOBS
# (default 50000) no-op jobs on this machine's server. An anchor of
# `just bench`: the peer that a SKIP LOCKED worker is compared with.
#
# graphile-worker is pinned in bench/graphile/package.json (0.17.3: 0.18 needs
# Node >= 22) and its lockfile, and installed with npm into a cache directory
# on first use (again whenever those files change). bench/graphile/driver.mjs
# uses the library API, not the CLI, so that neither process start-up nor the
# queueing is timed: it starts WORKERS processes, each calling run() with one
# no-op task, waits until each LISTENs, queues every job with one
# graphile_worker.add_jobs() call, and times from that transaction's COMMIT
# until the jobs table is empty; then it checks that each job ran exactly once.
#
# Two rows, both with concurrency 24 and a pool of 25 per process:
#   batched    localQueue {size: 500}, completeJobBatchDelay 0,
#              failJobBatchDelay 0: the documented high-throughput setup
#   unbatched  batching options left at their defaults (off): a fetch and a
#              completion per job
#
# Environment:
#   DATABASE_URL   admin URL (postgres://, postgresql:// or key=value), a role
#                  with CREATEDB; default postgres://postgres@127.0.0.1:5432/postgres
#   JOBS           jobs per row (default 50000; the argument wins)
#   ROWS           rows to run (default "batched unbatched")
#   WORKERS        worker processes (default 2)
#   CONCURRENCY    concurrent jobs per process (default 24; pool = +1)
#   ROW_TIMEOUT_S  limit for one row, set-up included (default 150)
#   BENCH_CACHE    install directory (default
#                  ${XDG_CACHE_HOME:-$HOME/.cache}/switchboard-bench/graphile)
#   BENCH_DB       scratch database (default sb_bench_graphile), recreated per
#                  row and dropped at the end and on interruption
#   KEEP_DB=1      keep the scratch database
#   PG_BINDIR      where psql is, if not on PATH nor in /usr/lib/postgresql/*/bin
#
# stdout: `name: value` lines, only when every row succeeded; stderr: progress.
# Exit: 0 ok, 2 server unreachable / no rights / psql missing, 3 Node or npm
# missing or the install failed, 4 a row failed, timed out or failed its
# check, 130/143 interrupted.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PKG_DIR="$HERE/graphile"
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
JOBS="${1:-${JOBS:-50000}}"
ROWS="${ROWS:-batched unbatched}"
WORKERS="${WORKERS:-2}"
CONCURRENCY="${CONCURRENCY:-24}"
ROW_TIMEOUT_S="${ROW_TIMEOUT_S:-150}"
BENCH_CACHE="${BENCH_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/switchboard-bench/graphile}"
BENCH_DB="${BENCH_DB:-sb_bench_graphile}"
KEEP_DB="${KEEP_DB:-0}"

STAGE=""  # npm's staging directory while it installs; removed on any exit
BENCH_NAME=peer-graphile-worker
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup_extra() { [ -z "$STAGE" ] || rm -rf "$STAGE"; }

positive JOBS "$JOBS"
positive WORKERS "$WORKERS"
positive CONCURRENCY "$CONCURRENCY"
positive ROW_TIMEOUT_S "$ROW_TIMEOUT_S"
[ "$ROW_TIMEOUT_S" -gt 20 ] || fail 4 "ROW_TIMEOUT_S must be more than 20"
for r in $ROWS; do case "$r" in batched|unbatched) ;; *) fail 4 "unknown row '$r' in ROWS";; esac; done
bench_init
command -v node >/dev/null 2>&1 || fail 3 "node not found: graphile-worker needs Node.js >= 18 (Debian 12: apt-get install nodejs npm)"
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
[ "$NODE_MAJOR" -ge 18 ] || fail 3 "Node.js >= 18 needed, found $(node --version)"

# --- server ---------------------------------------------------------------------------
say "server: $(masked "$ADMIN_URL")"
check_server
# Each process holds up to CONCURRENCY+1 connections, the driver 2.
need=$((WORKERS * (CONCURRENCY + 1) + 2))
free="$(free_connections)"
[ "$need" -le "$free" ] || fail 2 "WORKERS x (CONCURRENCY + 1) + 2 = $need connections needed, the server has $free free; lower WORKERS or CONCURRENCY"
settings="$(sql "$ADMIN_URL" -c "SELECT split_part(current_setting('server_version'), ' ', 1),
  current_setting('synchronous_commit'), current_setting('fsync')")"
IFS='|' read -r SERVER_VERSION SYNC_COMMIT FSYNC <<<"$settings"

# --- graphile-worker, installed once per version of the package files --------------
# The install is keyed by the sha256 of package.json and package-lock.json.
want_key="$(cat "$PKG_DIR/package.json" "$PKG_DIR/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1)"
GW_VERSION="$(node -p 'require(process.argv[1]).dependencies["graphile-worker"]' "$PKG_DIR/package.json")"
installed_version() { node -p 'require(process.argv[1]).version' "$1/node_modules/graphile-worker/package.json" 2>/dev/null || true; }
if [ "$(cat "$BENCH_CACHE/.install-key" 2>/dev/null || true)" = "$want_key" ] \
   && [ "$(installed_version "$BENCH_CACHE")" = "$GW_VERSION" ]; then
  say "graphile-worker $GW_VERSION: cached in $BENCH_CACHE"
else
  command -v npm >/dev/null 2>&1 || fail 3 "npm not found: needed to install graphile-worker $GW_VERSION (Debian 12: apt-get install npm)"
  say "installing graphile-worker $GW_VERSION with npm into $BENCH_CACHE"
  mkdir -p "$(dirname "$BENCH_CACHE")"
  STAGE="$(mktemp -d "$(dirname "$BENCH_CACHE")/.graphile-install.XXXXXX")"
  cp "$PKG_DIR/package.json" "$STAGE/"
  [ ! -f "$PKG_DIR/package-lock.json" ] || cp "$PKG_DIR/package-lock.json" "$STAGE/"
  if ! bounded 300 npm install --prefix "$STAGE" --no-audit --no-fund --omit=dev --ignore-scripts \
         --fetch-retries=2 --fetch-timeout=60000 >"$WORK/npm.log" 2>&1; then
    tail -n 20 "$WORK/npm.log" >&3
    fail 3 "npm install failed (is the npm registry reachable? its output is above)"
  fi
  [ "$(installed_version "$STAGE")" = "$GW_VERSION" ] || fail 3 "npm finished, but graphile-worker $GW_VERSION is not in $STAGE"
  printf '%s\n' "$want_key" >"$STAGE/.install-key"
  rm -rf "$BENCH_CACHE"
  mv "$STAGE" "$BENCH_CACHE"
  STAGE=""
fi

# --- rows -------------------------------------------------------------------------------
: >"$WORK/results"
for row in $ROWS; do
  say "$row: fresh database $BENCH_DB, $WORKERS processes x concurrency $CONCURRENCY, $JOBS jobs"
  create_db
  sql "$ADMIN_URL" -c 'CHECKPOINT' >/dev/null 2>&1 || true  # a quiet start; needs superuser or pg_checkpoint
  rc=0
  bounded "$ROW_TIMEOUT_S" env GRAPHILE_MODULES="$BENCH_CACHE" BENCH_URL="$BENCH_URL" BENCH_ROW="$row" \
    BENCH_JOBS="$JOBS" BENCH_WORKERS="$WORKERS" BENCH_CONCURRENCY="$CONCURRENCY" \
    BENCH_DEADLINE_S=$((ROW_TIMEOUT_S - 15)) node "$PKG_DIR/driver.mjs" >>"$WORK/results" || rc=$?
  case "$rc" in
    0) ;;
    124|137) fail 4 "$row: not done within ROW_TIMEOUT_S=$ROW_TIMEOUT_S s" ;;
    *) fail 4 "$row: the driver failed (exit $rc)" ;;
  esac
done
finish_db

cat <<EOF
graphile_worker_version: $GW_VERSION
node_version: $(node --version)
postgres_version: $SERVER_VERSION
synchronous_commit: $SYNC_COMMIT
fsync: $FSYNC
cpu_cores: $(nproc 2>/dev/null || echo 1)
method: library run() in $WORKERS processes, clock from the COMMIT of one add_jobs() to an empty jobs table
jobs: $JOBS
worker_processes: $WORKERS
concurrency_per_process: $CONCURRENCY
pool_size_per_process: $((CONCURRENCY + 1))
EOF
cat "$WORK/results"
