#!/usr/bin/env bash
# scripts/monitoring-check.sh: checks deploy/monitoring, as CI (.ci/run)
# does. The alert rules load (`promtool check rules`) and each one fires on
# synthetic series (`promtool test rules`); the Grafana dashboard is valid
# JSON of the expected shape (unique panel ids, a Prometheus query with a
# refId in every panel, the `datasource` variable, panels within the
# 24-column grid); every metric the rules and the dashboard use is in the
# metrics table of docs/operations.md, and every alert has its runbook
# entry there. (That those metrics are what the binaries really export is
# checked by the test monitoring::rules_and_dashboard_use_real_metrics.)
#
# Needs promtool (Debian: package prometheus) and jq: scripts/install-deps.sh
# monitoring installs both.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/deploy/monitoring"
say() { printf '[monitoring] %s\n' "$*"; }
fail() { say "error: $*" >&2; exit 1; }

command -v promtool >/dev/null 2>&1 || fail "promtool is missing (scripts/install-deps.sh monitoring)"
command -v jq >/dev/null 2>&1 || fail "jq is missing (scripts/install-deps.sh monitoring)"

promtool check rules alerts.yml
promtool test rules alerts.test.yml

say "linting dashboard.json"
jq -e . dashboard.json >/dev/null || fail "dashboard.json is not JSON"
problems="$(jq -r '
  def panels: .panels[] | select(.type != "row");
  [
    (if (.title // "") == "" or (.uid // "") == "" then "the dashboard needs a title and a uid" else empty end),
    (if ([.templating.list[] | select(.name == "datasource" and .type == "datasource")] | length) != 1
       then "no datasource variable" else empty end),
    ([.panels[].id] | group_by(.) | map(select(length > 1)) | .[] | "panel id \(.[0]) used twice"),
    (panels | select(.datasource.uid != "${datasource}") | "panel \(.id) (\(.title)): datasource is not ${datasource}"),
    (panels | select((.targets // []) | length == 0) | "panel \(.id) (\(.title)): no query"),
    (panels | .targets[]? as $t | select(($t.expr // "") == "" or ($t.refId // "") == "")
       | "panel \(.id) (\(.title)): a query without expr or refId"),
    (panels | select(([.targets[]?.refId] | unique | length) != ((.targets // []) | length))
       | "panel \(.id) (\(.title)): refIds repeat"),
    (.panels[] | select(.gridPos.x + .gridPos.w > 24 or .gridPos.w < 1 or .gridPos.h < 1)
       | "panel \(.id) (\(.title)): outside the 24-column grid")
  ] | .[]' dashboard.json)"
[ -z "$problems" ] || fail "$problems"

say "checking metric names and runbook entries against docs/operations.md"
OPS="$ROOT/docs/operations.md"
metrics="$(cat alerts.yml dashboard.json | grep -o 'switchboard_[a-z_]*' | sed -E 's/_(bucket|sum|count)$//' | sort -u)"
for m in $metrics; do
  grep -q "\`$m\`" "$OPS" || fail "$m is used by the rules or the dashboard but not in the metrics table of docs/operations.md"
done
for a in $(grep -o 'alert: [A-Za-z0-9]*' alerts.yml | cut -d' ' -f2); do
  grep -q "^#### $a\$" "$OPS" || fail "alert $a has no runbook entry (#### $a) in docs/operations.md"
  grep -q "runbook: docs/operations.md#$(tr 'A-Z' 'a-z' <<<"$a")\$" alerts.yml || fail "alert $a: its runbook annotation does not point at its entry"
done
say "ok: $(grep -c 'alert:' alerts.yml) alerts, $(jq '[.panels[] | select(.type != "row")] | length' dashboard.json) panels, $(wc -w <<<"$metrics") metrics"
