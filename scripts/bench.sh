#!/usr/bin/env bash
# `just bench`: Switchboard's throughput, latency and memory next to the
# anchors (../shared/bench: PostgreSQL's own ceilings and graphile-worker),
# all measured in this one run on this machine. Prints a markdown table and
# writes the figures as JSON under bench/results/.
#
#   BENCH_QUICK=1        shorter anchor runs (noisier)
#   BENCH_BATCH=500      worker --batch-size for the drain runs
#   BENCH_SKIP_ANCHORS=1 skip the anchor scripts (ratios left empty)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SHARED="${SWITCHBOARD_SHARED:-$ROOT/../shared}"
BATCH="${BENCH_BATCH:-500}"
INGEST_EVENTS="${BENCH_INGEST_EVENTS:-50000}"
DRAIN_EVENTS="${BENCH_DRAIN_EVENTS:-100000}"
E2E_RATE="${BENCH_E2E_RATE:-1000}"
E2E_SECONDS="${BENCH_E2E_SECONDS:-30}"
OUT="$ROOT/bench/results"
TMP="$ROOT/.data/bench"
mkdir -p "$OUT" "$TMP"
rm -f "$TMP"/*.txt "$TMP"/*.json

log() { printf '[bench] %s\n' "$*" >&2; }

source scripts/db-env.sh
ADMIN="${DATABASE_URL%/*}/postgres"
db_url() { echo "${DATABASE_URL%/*}/$1"; }
q() { "$PSQL" -qAt "$(db_url "$1")" -c "$2"; }
fresh_db() { "$PSQL" -q "$ADMIN" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1 ${2:+TEMPLATE $2}" >/dev/null; }

log "building release binaries"
cargo build --release --bins --quiet
B="$ROOT/target/release"
export RUST_LOG=warn

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
# Peak resident set size (VmHWM) of a process, KiB.
peak_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
echo 0 >"$TMP/ingest_peak.txt"; echo 0 >"$TMP/worker_peak.txt"
note_peak() { # file pid
  local now; now="$(peak_kib "$2")"
  [ "${now:-0}" -gt "$(cat "$1")" ] && echo "$now" >"$1"; return 0
}
wait_drained() { # db limit_s
  local i
  for i in $(seq 1 $(( $2 * 10 ))); do
    [ "$(q "$1" "$DRAINED_SQL")" = t ] && return 0
    sleep 0.1
  done
  log "error: $1 not drained after $2 s"; return 1
}
setup_db() { # db
  DATABASE_URL="$(db_url "$1")" "$B/worker" migrate >/dev/null
  DATABASE_URL="$(db_url "$1")" "$B/worker" source add pbx --provider yeastar --secret bench-yeastar-secret-0123456789ab >/dev/null
  DATABASE_URL="$(db_url "$1")" "$B/worker" source add dp --provider dialpad --secret bench-dialpad-secret >/dev/null
}
start_ingest() { # db port
  DATABASE_URL="$(db_url "$1")" INGEST_BIND="127.0.0.1:$2" "$B/ingest" >"$TMP/ingest-$1.log" 2>&1 &
  INGEST_PID=$!; PIDS+=("$INGEST_PID")
  local i; for i in $(seq 1 100); do curl -fsS "http://127.0.0.1:$2/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  log "error: ingest did not start"; return 1
}
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
TRAFFIC_SOURCES=(--yeastar pbx=bench-yeastar-secret-0123456789ab --dialpad dp=bench-dialpad-secret)

# --- anchors ------------------------------------------------------------------
if [ "${BENCH_SKIP_ANCHORS:-0}" != 1 ]; then
  if [ "${BENCH_QUICK:-0}" = 1 ]; then export DURATION=5 PRELOAD=300000; fi
  log "anchor: pg-ceiling.sh (PostgreSQL's own ceilings, ~1 min)"
  DATABASE_URL="$ADMIN" bash "$SHARED/bench/pg-ceiling.sh" >"$TMP/pg-ceiling.txt"
  log "anchor: peer-graphile-worker.sh (graphile-worker no-op jobs, ~30 s)"
  DATABASE_URL="$ADMIN" bash "$SHARED/bench/peer-graphile-worker.sh" >"$TMP/graphile.txt"
else
  : >"$TMP/pg-ceiling.txt"; : >"$TMP/graphile.txt"
fi

# --- 1. ingest ------------------------------------------------------------------
log "1. ingest: $INGEST_EVENTS signed Yeastar events at concurrency 64"
fresh_db sb_bench_ingest; setup_db sb_bench_ingest
PORT="$(free_port)"; start_ingest sb_bench_ingest "$PORT"
"$B/traffic" run --url "http://127.0.0.1:$PORT" --yeastar pbx=bench-yeastar-secret-0123456789ab \
  --events 2000 --concurrency 16 >/dev/null  # warm-up
"$B/traffic" run --url "http://127.0.0.1:$PORT" --yeastar pbx=bench-yeastar-secret-0123456789ab \
  --events "$INGEST_EVENTS" --concurrency 64 --json >"$TMP/ingest.json"
curl -fsS "http://127.0.0.1:$PORT/metrics" | awk '/^switchboard_ingest_group_commit_size_(sum|count)/ {print $1": "$2}' >"$TMP/group_commit.txt"
note_peak "$TMP/ingest_peak.txt" "$INGEST_PID"; stop "$INGEST_PID"

# --- 2. worker drain ------------------------------------------------------------
log "2. worker: preloading $DRAIN_EVENTS realistic events (both providers) through ingest"
fresh_db sb_bench_src; setup_db sb_bench_src
PORT="$(free_port)"; start_ingest sb_bench_src "$PORT"
"$B/traffic" run --url "http://127.0.0.1:$PORT" "${TRAFFIC_SOURCES[@]}" \
  --events "$DRAIN_EVENTS" --concurrency 128 >/dev/null
note_peak "$TMP/ingest_peak.txt" "$INGEST_PID"; stop "$INGEST_PID"
q sb_bench_src "VACUUM ANALYZE" >/dev/null
for w in 1 2; do
  fresh_db "sb_bench_w$w" sb_bench_src
  log "2. worker: draining with $w worker process(es), batch $BATCH"
  WP=()
  for _ in $(seq 1 "$w"); do
    DATABASE_URL="$(db_url "sb_bench_w$w")" "$B/worker" run --batch-size "$BATCH" >>"$TMP/worker-$w.log" 2>&1 &
    WP+=("$!"); PIDS+=("$!")
  done
  wait_drained "sb_bench_w$w" 600
  for p in "${WP[@]}"; do note_peak "$TMP/worker_peak.txt" "$p"; stop "$p"; done
  q "sb_bench_w$w" "SELECT count(*), extract(epoch FROM max(processed_at) - min(processed_at))
                    FROM webhook_events" >"$TMP/drain-$w.txt"
done

# --- 3. end to end ---------------------------------------------------------------
E2E_EVENTS=$((E2E_RATE * E2E_SECONDS))
log "3. end to end: $E2E_RATE events/s for $E2E_SECONDS s through ingest and one worker"
fresh_db sb_bench_e2e; setup_db sb_bench_e2e
PORT="$(free_port)"; start_ingest sb_bench_e2e "$PORT"
DATABASE_URL="$(db_url sb_bench_e2e)" "$B/worker" run >"$TMP/worker-e2e.log" 2>&1 &
E2E_WORKER=$!; PIDS+=("$E2E_WORKER")
# Dead tuples in the inbox, sampled every second under the steady load.
( while true; do
    q sb_bench_e2e "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'webhook_events'" >>"$TMP/e2e-dead.txt" 2>/dev/null
    sleep 1
  done ) &
SAMPLER=$!; PIDS+=("$SAMPLER")
"$B/traffic" run --url "http://127.0.0.1:$PORT" "${TRAFFIC_SOURCES[@]}" \
  --events "$E2E_EVENTS" --rate "$E2E_RATE" --concurrency 32 --json >"$TMP/e2e-traffic.json"
wait_drained sb_bench_e2e 120
kill "$SAMPLER" 2>/dev/null || true
note_peak "$TMP/ingest_peak.txt" "$INGEST_PID"; note_peak "$TMP/worker_peak.txt" "$E2E_WORKER"
# Accepted (received_at, the insert) to applied (processed_at, taken in the
# transaction that writes the call and extension rows, just before commit).
q sb_bench_e2e "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d), percentile_cont(0.99) WITHIN GROUP (ORDER BY d), max(d), count(*)
  FROM (SELECT extract(epoch FROM processed_at - received_at) * 1000 AS d FROM webhook_events) x" >"$TMP/e2e.txt"
stop "$INGEST_PID"; stop "$E2E_WORKER"

# --- report ---------------------------------------------------------------------
python3 - "$TMP" "$OUT" "$BATCH" <<'PY'
import json, os, sys, time, platform
tmp, out, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
def kv(path):
    d = {}
    for line in open(path):
        if ": " in line:
            k, v = line.strip().split(": ", 1)
            try: d[k] = float(v)
            except ValueError: d[k] = v
    return d
ceil, peer = kv(f"{tmp}/pg-ceiling.txt"), kv(f"{tmp}/graphile.txt")
ing = json.load(open(f"{tmp}/ingest.json"))
gc = kv(f"{tmp}/group_commit.txt")
drain = {}
for w in (1, 2):
    n, secs = open(f"{tmp}/drain-{w}.txt").read().strip().split("|")
    drain[w] = {"events": int(n), "seconds": float(secs), "events_per_s": int(n) / float(secs)}
p50, p99, mx, n = open(f"{tmp}/e2e.txt").read().strip().split("|")
dead = [int(x) for x in open(f"{tmp}/e2e-dead.txt").read().split() if x.strip().isdigit()]
e2e = {"p50_ms": float(p50), "p99_ms": float(p99), "max_ms": float(mx), "events": int(n),
       "inbox_dead_tuples_max": max(dead or [0]), "inbox_dead_tuples_samples": len(dead),
       "traffic": json.load(open(f"{tmp}/e2e-traffic.json"))}
rss = {"ingest_mib": int(open(f"{tmp}/ingest_peak.txt").read()) / 1024,
       "worker_mib": int(open(f"{tmp}/worker_peak.txt").read()) / 1024}
def ratio(a, b): return round(a / b, 2) if b else None
single, batched = ceil.get("insert_1_per_tx_rows_per_s"), ceil.get("insert_batched_rows_per_s")
claim, gbat = ceil.get("claim_complete_rows_per_s"), peer.get("graphile_batched_jobs_per_s")
gunb = peer.get("graphile_unbatched_jobs_per_s")
res = {
  "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(), "cpus": os.cpu_count(),
  "anchors": {"pg_ceiling": ceil, "graphile": peer},
  "ingest": {"accepted_per_s": ing["events_per_second"], "p50_ms": ing["latency_ms_p50"],
             "p99_ms": ing["latency_ms_p99"], "max_ms": ing["latency_ms_max"], "events": ing["acknowledged"],
             "failed": ing["failed"], "concurrency": 64,
             "rows_per_commit": ratio(gc.get("switchboard_ingest_group_commit_size_sum", 0),
                                      gc.get("switchboard_ingest_group_commit_size_count", 0)),
             "vs_single_row_ceiling": ratio(ing["events_per_second"], single),
             "vs_batched_ceiling": ratio(ing["events_per_second"], batched)},
  "worker": {"batch_size": batch, "drain": drain,
             "one_vs_claim_complete_ceiling": ratio(drain[1]["events_per_s"], claim),
             "one_vs_graphile_batched": ratio(drain[1]["events_per_s"], gbat),
             "two_vs_graphile_batched": ratio(drain[2]["events_per_s"], gbat),
             "two_vs_one": ratio(drain[2]["events_per_s"], drain[1]["events_per_s"])},
  "end_to_end": e2e, "peak_rss": rss,
}
targets = [
  ("ingest >= 2x single-row insert ceiling", res["ingest"]["vs_single_row_ceiling"] is not None and res["ingest"]["vs_single_row_ceiling"] >= 2),
  ("ingest p99 < 20 ms", ing["latency_ms_p99"] < 20),
  ("1 worker >= graphile batched no-op jobs", res["worker"]["one_vs_graphile_batched"] is not None and res["worker"]["one_vs_graphile_batched"] >= 1),
  ("2 workers faster than 1", drain[2]["events_per_s"] > drain[1]["events_per_s"]),
  ("end-to-end p99 < 50 ms at 1,000/s", e2e["p99_ms"] < 50),
  ("ingest and worker < 64 MiB resident", rss["ingest_mib"] < 64 and rss["worker_mib"] < 64),
]
res["targets"] = {k: v for k, v in targets}
f = lambda x, d=0: "-" if x is None else f"{x:,.{d}f}"
md = []
md.append(f"Benchmark {res['date']} on {res['cpus']} CPUs (anchors measured in the same run)\n")
md.append("| measure | Switchboard | anchor | ratio |")
md.append("|---|---:|---:|---:|")
md.append(f"| ingest, signed Yeastar webhooks/s (64 concurrent) | {f(ing['events_per_second'])} | single-row insert ceiling {f(single)} | {f(res['ingest']['vs_single_row_ceiling'],2)} |")
md.append(f"| | | batched insert ceiling {f(batched)} | {f(res['ingest']['vs_batched_ceiling'],2)} |")
md.append(f"| ingest latency p50 / p99 / max (ms) | {f(ing['latency_ms_p50'],1)} / {f(ing['latency_ms_p99'],1)} / {f(ing['latency_ms_max'],1)} | | |")
md.append(f"| ingest rows per commit (group commit) | {f(res['ingest']['rows_per_commit'],1)} | | |")
md.append(f"| worker drain, 1 process, events/s ({drain[1]['events']:,} events, batch {batch}) | {f(drain[1]['events_per_s'])} | claim+complete ceiling {f(claim)} | {f(res['worker']['one_vs_claim_complete_ceiling'],2)} |")
md.append(f"| | | graphile-worker batched no-op jobs/s {f(gbat)} | {f(res['worker']['one_vs_graphile_batched'],2)} |")
md.append(f"| | | graphile-worker unbatched {f(gunb)} | {f(ratio(drain[1]['events_per_s'], gunb),2)} |")
md.append(f"| worker drain, 2 processes, events/s | {f(drain[2]['events_per_s'])} | graphile-worker batched {f(gbat)} | {f(res['worker']['two_vs_graphile_batched'],2)} |")
md.append(f"| 2 workers / 1 worker | {f(res['worker']['two_vs_one'],2)} | | |")
md.append(f"| end to end at {e2e['traffic']['events_per_second']:,.0f}/s: accepted -> applied p50 / p99 / max (ms) | {f(e2e['p50_ms'],1)} / {f(e2e['p99_ms'],1)} / {f(e2e['max_ms'],1)} | | |")
md.append(f"| inbox dead tuples during the steady run, max of {e2e['inbox_dead_tuples_samples']} samples | {e2e['inbox_dead_tuples_max']:,} (of {e2e['events']:,} events) | | |")
md.append(f"| peak resident memory, ingest / worker (MiB) | {f(rss['ingest_mib'],1)} / {f(rss['worker_mib'],1)} | | |")
md.append("")
md.append("| target | met |")
md.append("|---|---|")
for k, v in targets: md.append(f"| {k} | {'yes' if v else 'no'} |")
text = "\n".join(md) + "\n"
stamp = time.strftime("%Y%m%d-%H%M%S")
json.dump(res, open(f"{out}/bench-{stamp}.json", "w"), indent=2)
json.dump(res, open(f"{out}/latest.json", "w"), indent=2)
open(f"{out}/latest.md", "w").write(text)
print(text)
print(f"written: bench/results/bench-{stamp}.json, bench/results/latest.json, bench/results/latest.md")
PY
