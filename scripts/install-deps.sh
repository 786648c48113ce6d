#!/usr/bin/env bash
# scripts/install-deps.sh: the one installer of the system packages that
# Switchboard's commands need. `just test` (scripts/test.sh), `just up`,
# `just cluster` and CI (.ci/run) call it first, before compiling anything.
#
# It checks what is there in well under a second (a few file tests, no
# apt). When something is missing it installs it with apt-get on Debian or
# Ubuntu, quietly and after one `apt-get update`, if it may (root, or sudo
# without a password); otherwise it stops at once, printing the one command
# to run, and exits 1.
#
# Usage: scripts/install-deps.sh [--dry-run] [NEED...]    (default: all)
#   test       postgres browser pgbouncer; nginx too when it may install
#   up         postgres
#   cluster    postgres nginx
#   all        postgres browser pgbouncer nginx monitoring (CI)
#   bench      postgres pgbouncer wrk valgrind (`just bench`, the callgrind scripts)
#   postgres   PostgreSQL's server binaries (package postgresql), for the
#              project-local server under ./.data; not needed when
#              DATABASE_URL (environment or .env) names a server that answers
#   browser    chromium and chromedriver, for the board's browser tests
#              (Debian: chromium chromium-driver; Ubuntu: the chromium snap)
#   pgbouncer  pgbouncer, for the test through PgBouncer (the service the
#              package starts is stopped: the test runs its own)
#   nginx      nginx (nginx-light, else nginx), for `just cluster`
#   wrk        wrk, the HTTP load generator of `just bench`'s ingest runs
#   valgrind   valgrind, for bench/ingest-callgrind.sh and bench/worker-callgrind.sh
#   monitoring promtool (Debian's package prometheus, without its recommended
#              node exporter; the service it starts is stopped) and jq, for
#              scripts/monitoring-check.sh (the alert rules and dashboard)
#   --dry-run  apt-get install -s: show what would be installed (after
#              apt-get update), install nothing
#
# Environment:
#   SWITCHBOARD_TEST_SKIP=browser,pgbouncer  for `test`: knowingly go without
#              those tests; their packages are not needed, and scripts/test.sh
#              skips the tests and says so at the start and at the end.
#   CHROMIUM, CHROMEDRIVER  the binaries to use (the browser tests read them).
#
# Ubuntu packages chromium only as a snap (its chromium-browser and
# chromium-chromedriver debs install the snap): with snapd running it runs
# `snap install chromium`, and scripts/test.sh points CHROMIUM and
# CHROMEDRIVER at /snap/bin/chromium{,.chromedriver}. Without snapd (a
# container) it stops and says so: set CHROMIUM and CHROMEDRIVER to a
# chromium and its driver installed another way, or skip the browser tests.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$ROOT/scripts/lib.sh"

say() { printf '[deps] %s\n' "$*" >&2; }

DRY_RUN=0
NEEDS=() WANTS=()
add() { local n; for n in "$@"; do [[ " ${NEEDS[*]} " == *" $n "* ]] || NEEDS+=("$n"); done; }
skipped() { [[ ",${SWITCHBOARD_TEST_SKIP:-}," == *",$1,"* ]]; }
[ "$#" -gt 0 ] || set -- all
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    test)
      add postgres
      skipped browser || add browser
      skipped pgbouncer || add pgbouncer
      WANTS+=(nginx) ;;
    up) add postgres ;;
    cluster) add postgres nginx ;;
    all) add postgres browser pgbouncer nginx monitoring ;;
    bench) add postgres pgbouncer wrk valgrind ;;
    postgres|browser|pgbouncer|nginx|monitoring|wrk|valgrind) add "$arg" ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) say "unknown need '$arg' (test, up, cluster, all, bench, postgres, browser, pgbouncer, nginx, monitoring, wrk, valgrind)"; exit 2 ;;
  esac
done

# --- what is there: the same places the tests and scripts look in ----------
# The database URL the scripts would use: DATABASE_URL, else the .env's.
configured_url() {
  local url="${DATABASE_URL:-}"
  if [ -z "$url" ] && [ -f "$ROOT/.env" ]; then
    url="$(sed -n 's/^DATABASE_URL=//p' "$ROOT/.env" | tail -n 1 | tr -d '"'"'")"
  fi
  printf '%s' "$url"
}
present() {
  case "$1" in
    postgres)
      "$ROOT/scripts/pg-local.sh" bindir >/dev/null 2>&1 && return 0
      local url; url="$(configured_url)"
      [ -n "$url" ] && pg_answers "$url" ;;
    browser)
      browser_env
      browser_bin CHROMIUM chromium >/dev/null && browser_bin CHROMEDRIVER chromedriver >/dev/null ;;
    # crates/worker/tests/it/pgbouncer.rs looks only there.
    pgbouncer) [ -x /usr/sbin/pgbouncer ] || [ -x /usr/bin/pgbouncer ] ;;
    nginx) command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] ;;
    monitoring) command -v promtool >/dev/null 2>&1 && command -v jq >/dev/null 2>&1 ;;
    wrk|valgrind) command -v "$1" >/dev/null 2>&1 ;;
  esac
}
why() {
  case "$1" in
    postgres) echo "PostgreSQL's server (no DATABASE_URL that answers, and no initdb/pg_ctl for the project-local server)" ;;
    browser) echo "chromium and chromedriver (the board's browser tests)" ;;
    pgbouncer) echo "pgbouncer (the test through PgBouncer)" ;;
    nginx) echo "nginx (just cluster)" ;;
    monitoring) echo "promtool and jq (scripts/monitoring-check.sh: the alert rules and the dashboard)" ;;
    wrk) echo "wrk (just bench: the ingest and HTTP-limit runs)" ;;
    valgrind) echo "valgrind (the callgrind instruction counts of bench/*-callgrind.sh)" ;;
  esac
}

MISSING=() EXTRA=()
for n in "${NEEDS[@]}"; do present "$n" || MISSING+=("$n"); done
for n in "${WANTS[@]}"; do
  [[ " ${NEEDS[*]} " == *" $n "* ]] || present "$n" || EXTRA+=("$n")
done
[ "${#MISSING[@]}" -gt 0 ] || [ "${#EXTRA[@]}" -gt 0 ] || exit 0

# --- may this install? -----------------------------------------------------
SUDO=()
CAN=1 WHY_NOT=""
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then CAN=0 WHY_NOT="not root, and no sudo"
  elif sudo -n true 2>/dev/null; then SUDO=(sudo -n)
  else CAN=0 WHY_NOT="not root, and sudo asks for a password"
  fi
fi
command -v apt-get >/dev/null 2>&1 || { CAN=0 WHY_NOT="no apt-get"; }
DISTRO="$(. /etc/os-release 2>/dev/null; echo "${ID:-unknown}")"

if [ "$CAN" = 0 ]; then
  if [ "${#MISSING[@]}" -eq 0 ]; then
    # Only what `test` would merely like (nginx): say so, go on.
    say "note: $(why "${EXTRA[0]}") is not installed; \`just cluster\` will need it (sudo scripts/install-deps.sh nginx)"
    exit 0
  fi
  {
    echo
    echo "Missing, and this cannot install it here ($WHY_NOT):"
    for n in "${MISSING[@]}"; do echo "  - $(why "$n")"; done
    for n in "${EXTRA[@]}"; do echo "  - and, installed with them: $(why "$n")"; done
    echo
    if command -v apt-get >/dev/null 2>&1; then
      cmd="scripts/install-deps.sh ${MISSING[*]} ${EXTRA[*]}"
      [ "$PWD" = "$ROOT" ] || cmd="$ROOT/${cmd}"
      cmd="${cmd% }"
      # Without sudo: su (root's password), in this directory.
      if command -v sudo >/dev/null 2>&1; then cmd="sudo $cmd"; else cmd="su -c '$cmd'"; fi
      echo "Run this once (it runs apt-get update, then apt-get install), then your command again:"
      echo
      echo "    $cmd"
    else
      echo "This is not a Debian or Ubuntu system (no apt-get). Install with your package manager:"
      echo "    PostgreSQL's server, chromium and chromedriver, pgbouncer (in /usr/sbin or /usr/bin), nginx,"
      echo "    promtool (Prometheus) and jq"
      echo "  e.g. Fedora: sudo dnf install -y postgresql-server chromium chromedriver pgbouncer nginx"
      echo "  (or point CHROMIUM and CHROMEDRIVER at the browser and its driver)."
    fi
    if [[ " ${MISSING[*]} " == *" browser "* || " ${MISSING[*]} " == *" pgbouncer "* ]]; then
      echo
      echo "Or, knowingly without the browser and PgBouncer tests (the run says they were skipped):"
      echo "    SWITCHBOARD_TEST_SKIP=browser,pgbouncer just test"
    fi
    echo
  } >&2
  exit 1
fi

# --- install -------------------------------------------------------------
WANT=("${MISSING[@]}" "${EXTRA[@]}")
LOG="$(mktemp "${TMPDIR:-/tmp}/switchboard-deps.XXXXXX")"
trap 'rm -f "$LOG"' EXIT
apt() {
  if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=300 "$@" >"$LOG" 2>&1; then
    say "error: apt-get $*:"; tail -n 20 "$LOG" >&2; exit 1
  fi
}
# Whether apt has a version of package $1 to install (no pipe into grep -q:
# under pipefail apt-cache's SIGPIPE would fail it).
has_candidate() { local out; out="$(apt-cache policy "$1" 2>/dev/null)"; grep -q 'Candidate: [^(]' <<<"$out"; }

list="${WANT[*]}"
say "installing ${list// /, } with apt-get (${DISTRO})"
apt update
PKGS=() SNAP_CHROMIUM=0 NO_RECOMMENDS=()
for n in "${WANT[@]}"; do
  case "$n" in
    postgres) PKGS+=(postgresql) ;;
    pgbouncer) PKGS+=(pgbouncer) ;;
    nginx) if has_candidate nginx-light; then PKGS+=(nginx-light); else PKGS+=(nginx); fi ;;
    monitoring) NO_RECOMMENDS+=(prometheus); PKGS+=(jq) ;;
    wrk|valgrind) PKGS+=("$n") ;;
    browser)
      if has_candidate chromium && has_candidate chromium-driver; then
        PKGS+=(chromium chromium-driver)
      elif command -v snap >/dev/null 2>&1 && [ -S /run/snapd.socket ]; then
        SNAP_CHROMIUM=1   # Ubuntu: chromium (and its chromedriver) as a snap
      else
        say "error: no chromium package here (Ubuntu ships it as a snap, and snapd does not run here)."
        say "  Install a chromium and its chromedriver of the same version another way and set"
        say "  CHROMIUM and CHROMEDRIVER to them, or run without the browser tests:"
        say "  SWITCHBOARD_TEST_SKIP=browser just test"
        exit 1
      fi ;;
  esac
done
if [ "$DRY_RUN" = 1 ]; then
  say "dry run: apt-get install -s ${PKGS[*]} ${NO_RECOMMENDS[*]}"
  "${SUDO[@]}" apt-get install -s "${PKGS[@]}" | grep -E '^(Inst|Conf) ' | sed 's/^/  /' >&2 || true
  [ "${#NO_RECOMMENDS[@]}" -eq 0 ] || "${SUDO[@]}" apt-get install -s --no-install-recommends "${NO_RECOMMENDS[@]}" \
    | grep -E '^(Inst|Conf) ' | sed 's/^/  /' >&2 || true
  [ "$SNAP_CHROMIUM" = 0 ] || say "dry run: snap install chromium"
  exit 0
fi
[ "${#PKGS[@]}" -eq 0 ] || apt install -y "${PKGS[@]}"
# promtool comes with the Prometheus server; its node exporter is not needed.
[ "${#NO_RECOMMENDS[@]}" -eq 0 ] || apt install -y --no-install-recommends "${NO_RECOMMENDS[@]}"
if [ "$SNAP_CHROMIUM" = 1 ]; then
  "${SUDO[@]}" snap install chromium >"$LOG" 2>&1 || { say "error: snap install chromium:"; tail -n 20 "$LOG" >&2; exit 1; }
fi
# The package starts a pgbouncer of its own on 6432; the test runs its own.
if [[ " ${PKGS[*]} " == *" pgbouncer "* ]]; then
  "${SUDO[@]}" systemctl stop pgbouncer >/dev/null 2>&1 || "${SUDO[@]}" service pgbouncer stop >/dev/null 2>&1 || true
fi
# Only promtool is wanted, not a Prometheus server on 9090 (the worker's port).
if [[ " ${NO_RECOMMENDS[*]} " == *" prometheus "* ]]; then
  "${SUDO[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || "${SUDO[@]}" service prometheus stop >/dev/null 2>&1 || true
fi

for n in "${WANT[@]}"; do
  present "$n" || { say "error: $(why "$n") is still missing after the install"; exit 1; }
done
say "installed: ${PKGS[*]} ${NO_RECOMMENDS[*]}$([ "$SNAP_CHROMIUM" = 0 ] || echo " (snap) chromium")"
