# shellcheck shell=bash
# Sourced by scripts/cluster.sh and scripts/compose-check.sh: the figures
# that prove every acknowledged event was processed exactly once, from the
# event ids a sender recorded (one per line) and the database, which the
# caller reaches through its own `q SQL` function (one value out).
#   exactly_once ACKED_FILE SENDER_EXIT  -> prints the figures; returns 1 on
#   any loss, double application, unprocessed event or sender failure.
exactly_once() {
  local acked_file="$1" sender_rc="$2"
  local ids acked acked_distinct stored processed acked_processed twice applied effects lost dups
  ids="$(sort -un "$acked_file" | paste -sd, -)"
  acked="$(wc -l <"$acked_file" | tr -d ' ')"
  acked_distinct="$(sort -un "$acked_file" | wc -l | tr -d ' ')"
  stored="$(q 'SELECT count(*) FROM webhook_events')"
  processed="$(q 'SELECT count(*) FROM webhook_events WHERE processed_at IS NOT NULL')"
  acked_processed="$(q "SELECT count(*) FROM webhook_events WHERE processed_at IS NOT NULL AND id = ANY('{${ids}}'::bigint[])")"
  twice="$(q 'SELECT count(*) FROM webhook_events WHERE attempts <> 1')"
  applied="$(q "SELECT count(*) FROM webhook_events WHERE outcome = 'applied'")"
  effects="$(q 'SELECT coalesce(sum(events), 0) FROM calls')"
  lost=$((acked_distinct - acked_processed))
  dups=$((effects - applied))
  printf '%-44s %s\n' "acknowledged answers (200)" "$acked" \
    "distinct acknowledged events" "$acked_distinct" \
    "stored in the inbox" "$stored" \
    "processed" "$processed" \
    "acknowledged and processed" "$acked_processed" \
    "events processed more than once (attempts)" "$twice" \
    "effects applied (sum of calls.events)" "$effects" \
    "events applied" "$applied" \
    "lost" "$lost" \
    "duplicates applied" "$dups" \
    "sender exit" "$sender_rc"
  [ "$lost" -eq 0 ] && [ "$dups" -eq 0 ] && [ "$twice" -eq 0 ] && [ "$processed" -eq "$stored" ] \
    && [ "$sender_rc" -eq 0 ] && [ "$acked_distinct" -ge 1 ]
}
