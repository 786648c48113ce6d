#!/usr/bin/env bash
# `just cluster`: the deployment shape of docker-compose.yml, with real
# processes on loopback: two ingest instances behind nginx and three workers
# on one PostgreSQL database. Drives EVENTS (10,000) signed events through the
# load balancer with the traffic generator, kills one ingest and one worker
# (SIGKILL) midway, and checks that every acknowledged event was processed
# exactly once. The workers deliver the events out too (`--deliver`, as
# compose runs them) to a receiver on loopback: every normalized event must
# arrive, each call's first in order, the killed worker's when its leases
# run out (60 s). Exits non-zero on any loss, double application, missing
# delivery or delivery out of order.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EVENTS="${EVENTS:-10000}"
DIR="$ROOT/.data/cluster"
rm -rf "$DIR"; mkdir -p "$DIR/logs"

# nginx, and PostgreSQL's server without a DATABASE_URL: installed, or the
# command to run, before compiling.
scripts/install-deps.sh cluster
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

source scripts/lib.sh
source scripts/db-env.sh
source scripts/secrets-key.sh
BASE_URL="$DATABASE_URL"
DB="switchboard_cluster"
admin_url="${BASE_URL%/*}/postgres"
"$PSQL" -q "$admin_url" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" >/dev/null
export DATABASE_URL="${BASE_URL%/*}/$DB"
q() { "$PSQL" -qAt "$DATABASE_URL" -c "$1"; }

echo "==> building"
cargo build --workspace --bins --quiet
B="${CARGO_TARGET_DIR:-$ROOT/target}/debug"

P_LB="$(free_port)"; P_I1="$(free_port)"; P_I2="$(free_port)"; P_WM="$(free_port)"; P_IM="$(free_port)"

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  [ -f "$DIR/nginx.pid" ] && kill -QUIT "$(cat "$DIR/nginx.pid")" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo cluster-yeastar-secret-0123456789 >"$DIR/pbx.secret"
echo cluster-dialpad-secret >"$DIR/dp.secret"
prepare_db "$B/worker" -- pbx yeastar "$DIR/pbx.secret" dp dialpad "$DIR/dp.secret" >/dev/null

# The events out: a receiver on loopback, one endpoint for every event.
"$B/traffic" receive --out "$DIR/received.tsv" >"$DIR/receiver.addr" 2>"$DIR/logs/receiver.log" & RECV=$!; PIDS+=("$RECV")
for _ in $(seq 50); do [ -s "$DIR/receiver.addr" ] && break; sleep 0.1; done
"$B/worker" endpoint add crm --url "http://$(head -1 "$DIR/receiver.addr")/crm" --allow-private >/dev/null

export RUST_LOG=warn LOG_FORMAT=json
INGEST_BIND="127.0.0.1:$P_I1" "$B/ingest" >"$DIR/logs/ingest1.log" 2>&1 & I1=$!; PIDS+=("$I1")
INGEST_BIND="127.0.0.1:$P_I2" INGEST_METRICS_BIND="127.0.0.1:$P_IM" "$B/ingest" >"$DIR/logs/ingest2.log" 2>&1 & I2=$!; PIDS+=("$I2")
"$B/worker" run --deliver --metrics-bind "127.0.0.1:$P_WM" >"$DIR/logs/worker1.log" 2>&1 & W1=$!; PIDS+=("$W1")
"$B/worker" run --deliver >"$DIR/logs/worker2.log" 2>&1 & W2=$!; PIDS+=("$W2")
"$B/worker" run --deliver >"$DIR/logs/worker3.log" 2>&1 & W3=$!; PIDS+=("$W3")

sed -e "s/@LB@/$P_LB/; s/@I1@/$P_I1/; s/@I2@/$P_I2/; s#@DIR@#$DIR#g" deploy/nginx/loopback.conf.in >"$DIR/nginx.conf"
"$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -e "$DIR/logs/nginx-error.log"

wait_http "http://127.0.0.1:$P_LB/healthz" 30
echo "==> nginx on :$P_LB -> ingest :$P_I1 :$P_I2; 3 workers; database $DB"

echo "==> sending $EVENTS events through the load balancer"
# The sender retries a request for up to 30 s, as phone systems do: when
# the kill makes nginx mark both ingests down for its fail_timeout (5 s;
# seen once, the surviving one having closed two connections at the same
# moment), webhooks wait instead of failing.
"$B/traffic" run --url "http://127.0.0.1:$P_LB" \
  --yeastar pbx=cluster-yeastar-secret-0123456789 --dialpad dp=cluster-dialpad-secret \
  --events "$EVENTS" --concurrency 32 --duplicates 0.05 --reorder --retries 5 --retry-for 30s \
  --acked-out "$DIR/acked.txt" --json >"$DIR/traffic.json" &
TRAFFIC=$!

# Midway: take a stats snapshot, then kill one ingest and one worker.
for _ in $(seq 1 600); do
  [ "$(q 'SELECT count(*) FROM webhook_events')" -ge $((EVENTS / 2)) ] && break; sleep 0.05
done
"$B/worker" stats >"$DIR/stats-during.txt"
kill -KILL "$I1" "$W2"
echo "==> killed ingest 1 (pid $I1) and worker 2 (pid $W2) with SIGKILL at $(q 'SELECT count(*) FROM webhook_events') stored events"

traffic_rc=0; wait "$TRAFFIC" || traffic_rc=$?
# Until no event is pending (at most 120 s); if some still are, the figures
# below say how many and the check fails.
"$B/worker" wait-idle --timeout 120s || echo "==> the inbox did not drain within 120 s" >&2
"$B/worker" probe --print "http://127.0.0.1:$P_IM/metrics" >"$DIR/ingest-metrics.txt" || true
"$B/worker" probe --print "http://127.0.0.1:$P_WM/metrics" >"$DIR/worker-metrics.txt" || true

echo
echo "--- worker stats during the run"
cat "$DIR/stats-during.txt"
echo "--- traffic"
cat "$DIR/traffic.json"

echo "==> waiting for the deliveries (the killed worker's leases run out after 60 s)"
for _ in $(seq 1 1800); do
  [ "$(q "SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'")" = 0 ] && break; sleep 0.1
done
kill -TERM "$RECV" 2>/dev/null || true; wait "$RECV" 2>/dev/null || true

source scripts/exactly-once.sh
echo
echo "--- figures"
ok=0; exactly_once "$DIR/acked.txt" "$traffic_rc" || ok=$?
# Deliveries: every event received (at least once: the killed worker's in
# flight are sent again), and per subject the first arrivals in the order
# of the events.
"$PSQL" -q "$DATABASE_URL" -c "CREATE TABLE cluster_received (event_id text, at_ms float8, path text)" \
  -c "\copy cluster_received FROM '$DIR/received.tsv'"
IFS='|' read -r events pending missing received twice disorder handed <<<"$(q "
  WITH f AS (SELECT o.subject, o.seq, min(r.at_ms) AS first FROM outbox o
               JOIN cluster_received r ON r.event_id = o.event_id GROUP BY 1, 2)
  SELECT (SELECT count(*) FROM outbox),
         (SELECT count(*) FROM webhook_deliveries WHERE state <> 'delivered'),
         (SELECT count(*) FROM outbox o WHERE NOT EXISTS
            (SELECT 1 FROM cluster_received r WHERE r.event_id = o.event_id)),
         (SELECT count(*) FROM cluster_received),
         (SELECT count(*) - count(DISTINCT event_id) FROM cluster_received),
         (SELECT count(*) FROM (SELECT first < lag(first) OVER (PARTITION BY subject ORDER BY seq) AS back
                                  FROM f) x WHERE back),
         (SELECT count(*) FROM webhook_deliveries WHERE lessee IS NOT NULL)")"
echo "deliveries: $events events out, $received received ($twice again after the kill), $missing never received, $pending not delivered, $disorder received before an earlier event of their subject; $handed last sent as handed over"
if [ "$pending" != 0 ] || [ "$missing" != 0 ] || [ "$disorder" != 0 ] || [ "$events" = 0 ]; then
  echo "DELIVERY CHECK FAILED" >&2; ok=1
fi
echo
echo "--- /metrics excerpt (ingest 2, worker 1)"
grep -E '^switchboard_ingest_requests_total' "$DIR/ingest-metrics.txt" || true
grep -E '^switchboard_worker_(events_total|pending_events|oldest_pending)' "$DIR/worker-metrics.txt" || true

if [ "$ok" -ne 0 ]; then
  echo "CLUSTER CHECK FAILED" >&2; exit 1
fi
echo "cluster check passed: every acknowledged event processed exactly once, every event delivered in order per subject"
