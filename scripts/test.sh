#!/usr/bin/env bash
# `just test`: the whole suite against a real PostgreSQL. Uses
# TEST_DATABASE_URL or DATABASE_URL when set (a role that may CREATE
# DATABASE), else the project-local server under ./.data.
#
# First, before compiling, scripts/install-deps.sh checks that the packages
# the tests need are there (PostgreSQL, chromium and chromedriver,
# pgbouncer), installs them when it may, or stops with the command to run.
#   SWITCHBOARD_TEST_SKIP=browser,pgbouncer  knowingly skip the board's
#   browser tests and/or the PgBouncer test; said at the start and the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/lib.sh

# The tests skipped on request: their names (nextest and libtest filters).
SKIP_FILTERS=() SKIPPED=()
SWITCHBOARD_TEST_SKIP="${SWITCHBOARD_TEST_SKIP:-}"
for what in ${SWITCHBOARD_TEST_SKIP//,/ }; do
  case "$what" in
    browser) SKIP_FILTERS+=(--skip browser::); SKIPPED+=("the board's browser tests (browser::*)") ;;
    pgbouncer) SKIP_FILTERS+=(--skip pgbouncer::); SKIPPED+=("the PgBouncer test (pgbouncer::*)") ;;
    *) echo "SWITCHBOARD_TEST_SKIP: unknown '$what' (browser, pgbouncer)" >&2; exit 2 ;;
  esac
done
skipped_banner() {
  [ "${#SKIPPED[@]}" -gt 0 ] || return 0
  local list; list="$(IFS=';'; echo "${SKIPPED[*]}")"
  printf '\n!!! NOT RUN (SWITCHBOARD_TEST_SKIP=%s): %s.\n!!! This run does not show that they pass; CI runs them.\n\n' \
    "$SWITCHBOARD_TEST_SKIP" "${list//;/ and }" >&2
}
skipped_banner
trap skipped_banner EXIT

# The packages, before anything compiles (PostgreSQL's server only when the
# tests would start the project-local one).
DATABASE_URL="${TEST_DATABASE_URL:-${DATABASE_URL:-}}" scripts/install-deps.sh test
browser_env

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  source scripts/db-env.sh
  TEST_DATABASE_URL="$DATABASE_URL"
fi
# Tests create their databases next to the one named in the URL.
export TEST_DATABASE_URL
echo "tests use PostgreSQL at ${TEST_DATABASE_URL%%\?*}" | sed -E 's#://([^:@/]+):[^@]*@#://\1:***@#'
# The end-to-end tests run the real binaries: build them first.
cargo build --workspace --bins
# The skip filters go after the caller's own `--`, or after one of ours.
ARGS=("$@")
if [ "${#SKIP_FILTERS[@]}" -gt 0 ]; then
  [[ " ${ARGS[*]} " == *" -- "* ]] || ARGS+=(--)
  ARGS+=("${SKIP_FILTERS[@]}")
fi
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "${ARGS[@]}"
else
  cargo test --workspace --no-fail-fast "${ARGS[@]}"
fi
