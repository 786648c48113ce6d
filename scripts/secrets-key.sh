# shellcheck shell=bash
# Sourced by the scripts that start Switchboard (up, cluster, bench): exports
# SWITCHBOARD_SECRETS_KEY, the key that seals the sources' signing secrets
# in the database (ingest and `worker source ...` refuse to start without
# it). A key already in the environment is used as is; otherwise one is
# generated once into .data/secrets.key (mode 600) and reused, so that the
# secrets sealed by an earlier run still open. Losing that file means adding
# every source's secrets again.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${SWITCHBOARD_SECRETS_KEY:-}" ]; then
  _key_file="$_root/.data/secrets.key"
  if [ ! -s "$_key_file" ]; then
    mkdir -p "$_root/.data"
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n' >"$_key_file")
  fi
  SWITCHBOARD_SECRETS_KEY="$(cat "$_key_file")"
  unset _key_file
fi
export SWITCHBOARD_SECRETS_KEY
unset _root
