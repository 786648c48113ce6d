#!/usr/bin/env bash
# `just test`: the whole suite against a real PostgreSQL. Uses
# TEST_DATABASE_URL or DATABASE_URL when set (a role that may CREATE
# DATABASE), else the project-local server under ./.data.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ -z "${TEST_DATABASE_URL:-}" ]; then
  source scripts/db-env.sh
  TEST_DATABASE_URL="$DATABASE_URL"
fi
# Tests create their databases next to the one named in the URL.
export TEST_DATABASE_URL
echo "tests use PostgreSQL at ${TEST_DATABASE_URL%%\?*}" | sed -E 's#://([^:@/]+):[^@]*@#://\1:***@#'
# The end-to-end tests run the real binaries: build them first.
cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
