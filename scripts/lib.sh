# shellcheck shell=bash
# scripts/lib.sh: the helpers the scripts that drive Switchboard share (up,
# cluster, compose-check, bench/run.sh, bench/ingest-callgrind.sh, the
# installer). Sourced, never run:
#
#   source "$ROOT/scripts/lib.sh"
#
#   free_port                 a free TCP port on 127.0.0.1
#   wait_http URL SECONDS     until URL answers 2xx (`worker probe`); needs
#                             the built worker at $B/worker
#   prepare_db WORKER... -- NAME PROVIDER SECRET_FILE [NAME PROVIDER SECRET_FILE]...
#                             migrate, then add each source with its secret
#   pg_answers URL            whether a PostgreSQL server answers at URL
#   browser_env               points CHROMIUM / CHROMEDRIVER at a snap's
#                             chromium where the browser tests would miss it

# A free TCP port on 127.0.0.1 (the kernel's choice; free when asked).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_http URL SECONDS: polls URL with the project's own HTTP check,
# `worker probe` (exit 0 on a 2xx answer), every 0.1 s until it answers or
# SECONDS pass; then prints the last failure and returns 1. $B is the
# directory of the built binaries (debug or release: the caller's build).
wait_http() {
  local url="$1" limit="$2" err=""
  # Microseconds: EPOCHREALTIME (bash 5, whatever the locale's point), else SECONDS.
  local now="${EPOCHREALTIME:-$SECONDS.000000}"
  local deadline=$((${now//[.,]/} + limit * 1000000))
  while :; do
    err="$("$B/worker" probe --timeout 2s "$url" 2>&1 >/dev/null)" && return 0
    now="${EPOCHREALTIME:-$SECONDS.000000}"
    if [ "${now//[.,]/}" -ge "$deadline" ]; then
      printf 'error: %s did not answer within %s s: %s\n' "$url" "$limit" "${err##*$'\n'}" >&2
      return 1
    fi
    sleep 0.1
  done
}

# prepare_db WORKER... -- NAME PROVIDER SECRET_FILE [...]: prepares the
# database that WORKER reaches (its DATABASE_URL): `worker migrate`, then
# `worker source add NAME --provider PROVIDER` for each triple, the secret
# read from SECRET_FILE on stdin (never on a command line, where ps shows
# it). WORKER is how to run the worker: "$B/worker", or
# `compose run --rm --no-deps -T migrate worker`. Both steps are idempotent
# (re-adding a source adds only the secrets it lacks).
prepare_db() {
  local worker=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do worker+=("$1"); shift; done
  if [ "$#" -eq 0 ] || [ "${#worker[@]}" -eq 0 ] || [ $((($# - 1) % 3)) -ne 0 ]; then
    echo "usage: prepare_db WORKER... -- NAME PROVIDER SECRET_FILE [NAME PROVIDER SECRET_FILE]..." >&2
    return 2
  fi
  shift
  "${worker[@]}" migrate </dev/null || return
  while [ "$#" -gt 0 ]; do
    "${worker[@]}" source add "$1" --provider "$2" <"$3" || return
    shift 3
  done
}

# pg_answers URL: whether a PostgreSQL server answers `select 1` at URL
# within 3 s (psql), or, without psql, accepts connections on its host and
# port.
pg_answers() {
  local url="$1" psql hostport host port
  psql="$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | tail -n 1 || true)"
  if [ -n "$psql" ]; then
    PGCONNECT_TIMEOUT=3 "$psql" "$url" -qAtXc 'select 1' >/dev/null 2>&1
    return
  fi
  hostport="${url#*://}"; hostport="${hostport##*@}"; hostport="${hostport%%/*}"; hostport="${hostport%%\?*}"
  host="${hostport%:*}"; port="${hostport##*:}"
  [ "$host" != "$hostport" ] || port=5432
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "${host:-127.0.0.1}" "$port" 2>/dev/null
}

# browser_bin VAR NAME: the file the board's browser tests run for NAME
# (crates/board/tests/it/webdriver.rs): $VAR when set, else NAME on PATH,
# in /usr/bin or in /usr/lib/chromium. Status 1 when there is none.
browser_bin() {
  local var="$1" name="$2" d
  if [ -n "${!var:-}" ]; then [ -f "${!var}" ] && echo "${!var}"; return; fi
  local IFS=:
  for d in $PATH /usr/bin /usr/lib/chromium; do
    if [ -f "${d:-.}/$name" ]; then echo "${d:-.}/$name"; return 0; fi
  done
  return 1
}

# browser_env: on Ubuntu chromium is a snap (/snap/bin/chromium, its driver
# /snap/bin/chromium.chromedriver), which the browser tests do not find
# by name: export CHROMIUM and CHROMEDRIVER to it when they would miss it.
browser_env() {
  if ! browser_bin CHROMIUM chromium >/dev/null && [ -f /snap/bin/chromium ]; then
    export CHROMIUM=/snap/bin/chromium
  fi
  if ! browser_bin CHROMEDRIVER chromedriver >/dev/null && [ -f /snap/bin/chromium.chromedriver ]; then
    export CHROMEDRIVER=/snap/bin/chromium.chromedriver
  fi
}
