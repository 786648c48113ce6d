# Switchboard: signed telephony webhooks in, call and extension state out.
# Without DATABASE_URL, recipes use a project-local PostgreSQL under ./.data.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Start everything and run the demo call (stop with `just down`).
up:
    scripts/up.sh

# Stop what `just up` started, including the local PostgreSQL.
down:
    scripts/down.sh

# Apply the database migrations (worker migrate).
migrate:
    source scripts/db-env.sh && source scripts/secrets-key.sh && cargo run --quiet -p switchboard-worker -- migrate

# Run the whole test suite against a real PostgreSQL.
test *ARGS:
    scripts/test.sh {{ARGS}}

# Deployment shape on loopback: 2 ingest behind nginx, 3 workers, 10,000 events, kills midway.
cluster:
    scripts/cluster.sh

# docker-compose.yml for real (needs a Docker engine): build the image, bring the stack up, kill and restart an ingest and a worker, upgrade under traffic, check exactly once; tears down.
compose-check:
    scripts/compose-check.sh

# Roll a running compose stack onto the image now tagged switchboard:latest (migrate, roles, one instance at a time).
compose-upgrade:
    scripts/compose-upgrade.sh

# Throughput, latency and memory beside the anchors, in one run (~5 min): bench/results/.
bench:
    bench/run.sh

# Screenshot of the board mid-call in headless chromium: docs/board.png (or SCREENSHOT=path; SCREENSHOT_WIDTH=390 for a phone).
screenshot:
    #!/usr/bin/env bash
    set -euo pipefail
    # The database as `just test` finds it (scripts/test.sh).
    if [ -z "${TEST_DATABASE_URL:-}" ]; then
      source scripts/db-env.sh
      TEST_DATABASE_URL="$DATABASE_URL"
    fi
    export TEST_DATABASE_URL
    # The test runs in crates/board: make the path absolute first.
    SCREENSHOT="$(realpath -m "${SCREENSHOT:-docs/board.png}")"
    export SCREENSHOT
    cargo build --workspace --bins
    if cargo nextest --version >/dev/null 2>&1; then
      cargo nextest run -p switchboard-board --run-ignored only -E 'test(screenshot_mid_call) | test(screenshot_call_control)'
    else
      cargo test -p switchboard-board --test it -- --ignored --exact browser::screenshot_mid_call browser_control::screenshot_call_control
    fi
    echo "wrote $SCREENSHOT"

# Screenshots of the call centre in headless chromium: docs/queues-1280.png, queues-390.png, wallboard.png, board-compact.png (or SCREENSHOT_DIR).
screenshot-callcentre:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -z "${TEST_DATABASE_URL:-}" ]; then
      source scripts/db-env.sh
      TEST_DATABASE_URL="$DATABASE_URL"
    fi
    export TEST_DATABASE_URL
    SCREENSHOT_DIR="$(realpath -m "${SCREENSHOT_DIR:-docs}")"
    export SCREENSHOT_DIR
    cargo build --workspace --bins
    if cargo nextest --version >/dev/null 2>&1; then
      cargo nextest run -p switchboard-board --run-ignored only screenshot_callcentre
    else
      cargo test -p switchboard-board --test it -- --ignored --exact callcentre_screens::screenshot_callcentre
    fi
    echo "wrote the screenshots in $SCREENSHOT_DIR"

# Screenshots of the operators' console in headless chromium: docs/console-in.png, console-out.png (or SCREENSHOT_DIR).
screenshot-console:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -z "${TEST_DATABASE_URL:-}" ]; then
      source scripts/db-env.sh
      TEST_DATABASE_URL="$DATABASE_URL"
    fi
    export TEST_DATABASE_URL
    SCREENSHOT_DIR="$(realpath -m "${SCREENSHOT_DIR:-docs}")"
    export SCREENSHOT_DIR
    cargo build --workspace --bins
    if cargo nextest --version >/dev/null 2>&1; then
      cargo nextest run -p switchboard-board --run-ignored only screenshot_console
    else
      cargo test -p switchboard-board --test it -- --ignored --exact console::browser::screenshot_console
    fi
    echo "wrote the screenshots in $SCREENSHOT_DIR"

# Formatting and lints, as CI wants them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# The alert rules (promtool check and test) and the Grafana dashboard (lint) of deploy/monitoring.
monitoring:
    scripts/install-deps.sh monitoring
    scripts/monitoring-check.sh

# Build release binaries into target/release.
build:
    cargo build --workspace --release --bins

# Print the extension board.
board:
    source scripts/db-env.sh && source scripts/secrets-key.sh && cargo run --quiet -p switchboard-worker -- board

# Fuzz a target (verify | parse) with cargo-afl for SECONDS; prints executions and crashes.
fuzz TARGET="verify" SECONDS="60":
    fuzz/run.sh {{TARGET}} {{SECONDS}}
