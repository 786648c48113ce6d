#!/usr/bin/env python3
"""The report of `just bench`: reads what bench/run.sh left in TMP_DIR,
writes OUT_DIR/bench-STAMP.json, OUT_DIR/latest.json and OUT_DIR/latest.md,
and prints the markdown table.

    python3 bench/report.py TMP_DIR OUT_DIR BATCH_SIZE

Files read from TMP_DIR:
  pg-ceiling.txt, graphile.txt  the anchors' `name: value` lines (empty when
                                the anchors were skipped)
  graphile-1.txt                graphile-worker batched in one process (like
                                for like with one worker process)
  http-limit-wrk.json           wrk's summary against `traffic http-limit`
                                (the same bodies and HMAC, no database): the
                                physical HTTP limit ingest is a fraction of
  ingest.json                   traffic generator summary of the ingest run
  group_commit.txt              switchboard_ingest_group_commit_size_{sum,count}
  drain-1.txt                   `events|seconds` of the drain by 1 worker (as shipped)
  drain-p1.txt, drain-p2.txt    the same by 1 and 2 workers of one claim loop each
  drain-n2.txt                  the same by 2 workers as shipped (2 claim loops each)
  events-per-call.txt           `provider|events|calls` of the drained events
  e2e.txt                       `p50|p99|max|count` of accepted -> applied, ms
  ingest-wrk.json               wrk's summary (bench/wrk/ingest.lua) of the
                                external-generator ingest run
  ingest-wrk-stored.txt         events stored by that run
  e2e-dead.txt                  queue (event_queue) dead tuples, one sample
                                per line, during the steady run
  prune.txt                     `name: value`: seconds to prune the events by
                                dropping their day, and row by row the old way
  e2e-traffic.json              traffic generator summary of the steady run
  ingest_peak.txt, worker_peak.txt  peak resident set size (VmHWM), KiB
  board.json                    `traffic board-watch` report: probe 200 -> SSE
                                delta latencies over every (probe, stream)
                                pair, delivery, streams, the board's /proc
  board-probes.jsonl            one line per probe (event id, 200 time, ms to
                                the first and the last stream)
  board-probes-db.txt           `id|received_ms|processed_ms` of the probes
  board_peak.txt                the board's peak resident set (VmHWM), KiB
  board-metrics.txt             the board's switchboard_board_* metrics at the end
  cc-board.json, cc-board-probes.jsonl, cc-board-probes-db.txt,
  cc-board_peak.txt, cc-board-metrics.txt  the same of the board of a call
                                centre (section 6b)
  cc-seed.txt                   `extensions|queues|agents|waiting` it was seeded with
  board-1000*                   the same five board files for the run with
                                1,000 streams (board-1000.json, ...)
  login-flood.json              bench/login-flood.py: failed logins, the board's
                                resident memory before / peak / after (KiB)
  history-calls.txt             calls the history section searched
  history.jsonl                 one line per search run of `worker history
                                --repeat`: {"name": kind, "ms": [query ms...]}
  deliv-drain.txt               `deliveries|seconds` of the deliveries drain
  deliv-steady.txt              `p50|p99|max|count|failing attempts|events` of
                                webhook accepted -> delivery received by the 4
                                healthy endpoints (ms), the 5th failing
  deliv-traffic.json            traffic generator summary of that run
  deliver_peak.txt              `worker deliver`'s peak resident set (the drain), KiB
  deliver_run_peak.txt          `worker run --deliver`'s (the steady run), KiB

A section whose files are missing (BENCH_ONLY ran others) is left out of the
table and its targets are null and not met.
"""
import json
import os
import platform
import sys
import time


def kv(path):
    """`name: value` lines; numbers as floats, the rest as strings."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            if ": " not in line:
                continue
            k, v = line.strip().split(": ", 1)
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def read(path):
    with open(path) as f:
        return f.read()


def ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


# The targets: name -> (label for the table, threshold, is it met by value).
# Each is reported as {"met": bool, "value": measured, "target": threshold};
# a value that could not be measured (anchors skipped) is null and not met.
TARGETS = [
    ("ingest_vs_single_row_ceiling", "ingest (external generator, wrk) >= 1.5x the single-row insert ceiling", 1.5, lambda v, t: v >= t),
    ("ingest_vs_http_limit", "ingest (wrk) >= 0.5x the physical HTTP limit (the same bodies and HMAC, no database)", 0.5, lambda v, t: v >= t),
    ("ingest_p99_ms", "ingest (external generator, wrk) p99 < 20 ms", 20, lambda v, t: v < t),
    ("one_worker_vs_graphile_batched", "1 worker >= graphile-worker batched no-op jobs (2 processes)", 1.0, lambda v, t: v >= t),
    ("one_worker_vs_claim_complete_ceiling", "1 worker >= 0.9x PostgreSQL's own claim+complete ceiling", 0.9, lambda v, t: v >= t),
    ("two_processes_vs_graphile_batched", "2 worker processes (as shipped) >= 1.3x graphile-worker batched in 2 processes", 1.3, lambda v, t: v >= t),
    ("two_workers_vs_one", "2 workers >= 1.6x 1 worker", 1.6, lambda v, t: v >= t),
    ("e2e_p99_ms", "end-to-end p99 < 20 ms at 1,000/s", 20, lambda v, t: v < t),
    ("queue_dead_tuples_share", "queue dead tuples < 10% of the steady run's events (max sampled / events)", 0.10, lambda v, t: v < t),
    ("prune_1m_seconds", "pruning 1,000,000 processed events < 1 s", 1.0, lambda v, t: v < t),
    ("peak_rss_mib", "ingest and worker < 64 MiB resident (largest shown)", 64, lambda v, t: v < t),
    ("board_sse_p99_ms", "board: webhook 200 -> SSE delta p99 < 50 ms (500 streams, 1,000/s; a lost delivery counts as late)", 50, lambda v, t: v < t),
    ("board_peak_mib", "board peak resident < 64 MiB with 500 streams", 64, lambda v, t: v < t),
    ("board_callcentre_sse_p99_ms", "board of a call centre (1,000 extensions, 100 queues): webhook 200 -> SSE delta p99 < 100 ms", 100, lambda v, t: v < t),
    ("board_1000_streams_p99_ms", "board: webhook 200 -> SSE delta p99 < 100 ms with 1,000 streams (1,000/s; lost counts as late)", 100, lambda v, t: v < t),
    ("board_1000_streams_peak_mib", "board peak resident < 64 MiB with 1,000 streams", 64, lambda v, t: v < t),
    ("login_flood_growth_mib", "board: 200 failed logins, 40 at a time, grow resident memory < 124 MiB (4 checks x 19 MiB + 48)", 124, lambda v, t: v < t),
    ("history_p99_ms", "history search p99 < 200 ms over 10,000,000 calls", 200, lambda v, t: v < t),
    ("delivery_p99_ms", "events out: webhook accepted -> delivery received p99 < 100 ms at 1,000/s, 5 endpoints, one failing", 100, lambda v, t: v < t),
]


def deliveries_section(tmp):
    """The events-out figures, or None when the section did not run."""
    p = lambda name: os.path.join(tmp, name)
    if not os.path.exists(p("deliv-steady.txt")):
        return None
    n, secs = read(p("deliv-drain.txt")).strip().split("|")
    p50, p99, mx, count, failing, events = read(p("deliv-steady.txt")).strip().split("|")
    peak = int(read(p("deliver_peak.txt")).strip() or 0) if os.path.exists(p("deliver_peak.txt")) else 0
    run_peak = int(read(p("deliver_run_peak.txt")).strip() or 0) if os.path.exists(p("deliver_run_peak.txt")) else 0
    return {"drain_deliveries": int(n), "drain_seconds": float(secs),
            "deliveries_per_s": int(n) / float(secs) if float(secs) else None,
            "p50_ms": float(p50), "p99_ms": float(p99), "max_ms": float(mx), "delivered": int(count),
            "failing_attempts": int(failing), "events": int(events), "deliver_peak_mib": peak / 1024, "run_deliver_peak_mib": run_peak / 1024,
            "traffic": json.loads(read(p("deliv-traffic.json")))}


def pct(values, p):
    """The p-th quantile (0-1) of values, nearest rank as the traffic tool does."""
    v = sorted(values)
    if not v:
        return None
    return v[min(len(v) - 1, round((len(v) - 1) * p))]


def login_section(tmp):
    """The login flood's figures, or None when the section did not run."""
    path = os.path.join(tmp, "login-flood.json")
    if not os.path.exists(path) or not read(path).strip():
        return None
    w = json.loads(read(path))
    mib = lambda k: w[k] / 1024
    return {"logins": w["logins"], "concurrency": w["concurrency"], "seconds": w["seconds"],
            "statuses": w["statuses"], "samples": w["samples"], "before_mib": mib("before_kib"),
            "peak_mib": mib("peak_kib"), "after_mib": mib("after_kib"),
            "growth_mib": mib("peak_kib") - mib("before_kib")}


def board_section(tmp, prefix="", sfx=""):
    """The live board's figures, or None when the section did not run.
    A run's files are named with `prefix` (`cc-` for the call centre's:
    cc-board.json, ...) and `sfx` ("-1000": board-1000.json, ...)."""
    p = lambda name: os.path.join(tmp, prefix + name.replace("board", "board" + sfx, 1))
    if not os.path.exists(p("board.json")):
        return None
    w = json.loads(read(p("board.json")))
    lat, probes, streams, proc = w["latency_ms"], w["probes"], w["streams"], w.get("board") or {}
    peak_kib = int(read(p("board_peak.txt")).strip() or 0) if os.path.exists(p("board_peak.txt")) else 0
    peak_kib = peak_kib or proc.get("hwm_kib", 0)
    # Where the time goes, per probe: 200 -> applied (the worker's
    # processed_at, before its commit), applied -> the first stream, the
    # first stream -> the last. Wall clocks of one machine.
    stages = {}
    recs = [json.loads(line) for line in read(p("board-probes.jsonl")).splitlines() if line.strip()] \
        if os.path.exists(p("board-probes.jsonl")) else []
    db = {}
    if os.path.exists(p("board-probes-db.txt")):
        for line in read(p("board-probes-db.txt")).splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2]:
                db[int(parts[0])] = (float(parts[1]), float(parts[2]))
    applied, fanout_first, spread, received_to_ack = [], [], [], []
    for r in recs:
        if r.get("first_ms") is not None and r.get("all_ms") is not None:
            spread.append(r["all_ms"] - r["first_ms"])
        got = db.get(r.get("event_id"))
        if not got:
            continue
        received, processed = got
        received_to_ack.append(r["ack_unix_ms"] - received)
        applied.append(processed - r["ack_unix_ms"])
        if r.get("first_ms") is not None:
            fanout_first.append(r["ack_unix_ms"] + r["first_ms"] - processed)
    for name, vals in (("inserted_to_200", received_to_ack), ("200_to_applied", applied),
                       ("applied_to_first_stream", fanout_first), ("first_to_last_stream", spread)):
        stages[name] = {"p50_ms": pct(vals, 0.5), "p99_ms": pct(vals, 0.99), "max_ms": max(vals) if vals else None,
                        "probes": len(vals)}
    metrics = kv_metrics(p("board-metrics.txt"))
    return {
        "clients": streams["clients"], "events_per_second": w["load"]["events_per_second"],
        "load_failed": w["load"]["failed"], "seconds": w["load_seconds"],
        "p50_ms": lat["p50"], "p90_ms": lat["p90"], "p99_ms": lat["p99"], "p999_ms": lat["p999"], "max_ms": lat["max"],
        "p99_counting_lost_ms": w.get("p99_counting_lost_ms"),
        "all_streams_p50_ms": w["all_streams_ms"]["p50"], "all_streams_p99_ms": w["all_streams_ms"]["p99"],
        "from_send_p99_ms": w["from_send_ms"]["p99"],
        "probes_acknowledged": probes["acknowledged"], "probes_failed": probes["failed"],
        "probes_received_by_all": probes["received_by_all"],
        "pairs_expected": probes["pairs_expected"], "pairs_received": probes["pairs_received"],
        "probe_ack_p99_ms": probes["ack_ms"]["p99"],
        "stages": stages,
        "peak_mib": peak_kib / 1024,
        "rss_connected_mib": proc.get("rss_kib_connected", 0) / 1024,
        "rss_max_sampled_mib": proc.get("rss_kib_max_sampled", 0) / 1024,
        "cpu_seconds_load": proc.get("cpu_seconds_load"), "cpu_core_share_load": proc.get("cpu_core_share_load"),
        "threads": proc.get("threads"), "watcher_cpu_seconds_load": w.get("watcher_cpu_seconds_load"),
        "machine_busy_cores_load": w.get("machine_busy_cores_load"),
        "connect_seconds": streams["connect_seconds"], "snapshot_bytes": streams["snapshot_bytes"],
        "deltas_per_stream_per_s": streams["deltas_per_stream_per_s"], "mean_delta_bytes": streams["mean_delta_bytes"],
        "stream_mib_per_s": streams["bytes"] / 1048576 / max(w["load_seconds"], 1e-9),
        "reconnects": streams["reconnects"], "connect_errors": streams["connect_errors"],
        "resync_snapshots": streams["resync_snapshots"],
        "metrics": metrics,
        "watch": w,
    }


def callcentre_section(tmp):
    """The board of a call centre (section 6b): section 6's figures, and
    what was seeded (extensions, queues, agents, callers waiting)."""
    b = board_section(tmp, "cc-")
    if b is None:
        return None
    seed = os.path.join(tmp, "cc-seed.txt")
    parts = read(seed).strip().split("|") if os.path.exists(seed) else []
    nums = [int(x) for x in parts if x.isdigit()]
    b["extensions"], b["queues"], b["agents"], b["waiting"] = (nums + [0, 0, 0, 0])[:4]
    return b


def history_section(tmp):
    """The history search's figures, or None when the section did not run."""
    p = lambda name: os.path.join(tmp, name)
    if not os.path.exists(p("history.jsonl")):
        return None
    runs = [json.loads(line) for line in read(p("history.jsonl")).splitlines() if line.strip()]
    every = [ms for r in runs for ms in r["ms"]]
    kinds = {}
    for r in runs:
        kinds.setdefault(r["name"], []).extend(r["ms"])
    calls = int(read(p("history-calls.txt")).strip() or 0) if os.path.exists(p("history-calls.txt")) else 0
    return {"calls": calls, "searches": len(every), "p50_ms": pct(every, 0.5), "p99_ms": pct(every, 0.99),
            "max_ms": max(every or [0]),
            "kinds": {k: {"p50_ms": pct(v, 0.5), "p99_ms": pct(v, 0.99), "max_ms": max(v)} for k, v in kinds.items()}}


def kv_metrics(path):
    """Prometheus text lines `name{labels} value` as a dict."""
    out = {}
    if os.path.exists(path):
        for line in read(path).splitlines():
            if line.startswith("#") or " " not in line:
                continue
            k, v = line.rsplit(" ", 1)
            try:
                out[k] = float(v)
            except ValueError:
                pass
    return out


def build(tmp, batch):
    p = lambda name: os.path.join(tmp, name)
    has = lambda name: os.path.exists(p(name))
    ceil, peer, peer1 = kv(p("pg-ceiling.txt")), kv(p("graphile.txt")), kv(p("graphile-1.txt"))
    single, batched = ceil.get("insert_1_per_tx_rows_per_s"), ceil.get("insert_batched_rows_per_s")
    claim, gbat = ceil.get("claim_complete_rows_per_s"), peer.get("graphile_batched_jobs_per_s")
    res = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(), "cpus": os.cpu_count(),
        "anchors": {"pg_ceiling": ceil, "graphile": peer, "graphile_1_process": peer1, "http_limit": None},
        "ingest": None, "ingest_external": None, "worker": None, "end_to_end": None, "peak_rss": None,
        "prune": None, "pgbouncer": None, "board": None, "board_1000": None, "board_callcentre": None,
        "login_flood": None, "history": None,
    }
    http_limit = None
    if has("http-limit-wrk.json") and read(p("http-limit-wrk.json")).strip():
        hl = json.loads(read(p("http-limit-wrk.json")).strip().splitlines()[-1])
        errors = sum(hl[k] for k in ("errors_connect", "errors_read", "errors_write", "errors_status", "errors_timeout"))
        http_limit = (hl["requests"] - errors) / hl["seconds"]
        res["anchors"]["http_limit"] = {"generator": "wrk -t1 -c64", "accepted_per_s": http_limit, "errors": errors,
                                        "p50_ms": hl["p50_ms"], "p99_ms": hl["p99_ms"]}
    if has("ingest.json"):
        ing = json.loads(read(p("ingest.json")))
        gc = kv(p("group_commit.txt"))
        res["ingest"] = {"accepted_per_s": ing["events_per_second"], "p50_ms": ing["latency_ms_p50"],
                         "p99_ms": ing["latency_ms_p99"], "max_ms": ing["latency_ms_max"], "events": ing["acknowledged"],
                         "failed": ing["failed"], "concurrency": 64,
                         "rows_per_commit": ratio(gc.get("switchboard_ingest_group_commit_size_sum", 0),
                                                  gc.get("switchboard_ingest_group_commit_size_count", 0)),
                         "vs_single_row_ceiling": ratio(ing["events_per_second"], single),
                         "vs_batched_ceiling": ratio(ing["events_per_second"], batched)}
    if has("ingest-wrk.json") and read(p("ingest-wrk.json")).strip():
        wrk = json.loads(read(p("ingest-wrk.json")).strip().splitlines()[-1])
        stored = int(read(p("ingest-wrk-stored.txt")).strip() or 0) if has("ingest-wrk-stored.txt") else None
        errors = sum(wrk[k] for k in ("errors_connect", "errors_read", "errors_write", "errors_status", "errors_timeout"))
        ok_per_s = (wrk["requests"] - errors) / wrk["seconds"]
        res["ingest_external"] = {"generator": "wrk -t1 -c64", "requests": wrk["requests"], "seconds": wrk["seconds"],
                                  "accepted_per_s": ok_per_s, "errors": errors, "stored": stored,
                                  "wrapped": wrk.get("wrapped", 0), "p50_ms": wrk["p50_ms"], "p90_ms": wrk["p90_ms"],
                                  "p99_ms": wrk["p99_ms"], "max_ms": wrk["max_ms"],
                                  "vs_single_row_ceiling": ratio(ok_per_s, single),
                                  "vs_batched_ceiling": ratio(ok_per_s, batched),
                                  "vs_http_limit": ratio(ok_per_s, http_limit)}
    if has("prune.txt"):
        pr = kv(p("prune.txt"))
        res["prune"] = {"events": int(pr.get("events", 0)), "partition_seconds": pr.get("partition_seconds"),
                        "partition_left": pr.get("partition_left"), "rows_seconds": pr.get("rows_seconds"),
                        "rows_left": pr.get("rows_left"), "probe_inserts": pr.get("probe_inserts"),
                        "probe_worst_ms": pr.get("probe_worst_ms"), "probe_p99_ms": pr.get("probe_p99_ms")}
    if has("pgb-ingest-wrk.json") and read(p("pgb-ingest-wrk.json")).strip():
        w = json.loads(read(p("pgb-ingest-wrk.json")).strip().splitlines()[-1])
        errors = sum(w[k] for k in ("errors_connect", "errors_read", "errors_write", "errors_status", "errors_timeout"))
        res["pgbouncer"] = {"ingest_accepted_per_s": (w["requests"] - errors) / w["seconds"], "ingest_errors": errors,
                            "ingest_p99_ms": w["p99_ms"], "drain_events_per_s": None}
        if has("pgb-drain.txt"):
            n, secs = read(p("pgb-drain.txt")).strip().split("|")
            res["pgbouncer"]["drain_events_per_s"] = int(n) / float(secs)
            res["pgbouncer"]["drain_events"] = int(n)
    if has("drain-1.txt") and has("drain-p1.txt") and has("drain-p2.txt"):
        drain = {}
        for w in ("1", "p1", "p2", "n2"):
            if not has(f"drain-{w}.txt"):
                continue
            n, secs = read(p(f"drain-{w}.txt")).strip().split("|")
            drain[w] = {"events": int(n), "seconds": float(secs), "events_per_s": int(n) / float(secs)}
        per_call = {}
        if has("events-per-call.txt"):
            for line in read(p("events-per-call.txt")).splitlines():
                prov, events, calls = line.split("|")
                per_call[prov] = {"events": int(events), "calls": int(calls),
                                  "events_per_call": round(int(events) / int(calls), 2) if int(calls) else None}
        res["worker"] = {"batch_size": batch, "drain": drain, "events_per_call": per_call,
                         "one_vs_claim_complete_ceiling": ratio(drain["1"]["events_per_s"], claim),
                         "one_vs_graphile_batched": ratio(drain["1"]["events_per_s"], gbat),
                         "two_vs_graphile_batched": ratio(drain["p2"]["events_per_s"], gbat),
                         # Like for like: N processes as shipped against
                         # graphile-worker batched in N processes.
                         "like_for_like": {
                             "1": {"worker_events_per_s": drain["1"]["events_per_s"],
                                   "graphile_jobs_per_s": peer1.get("graphile_batched_jobs_per_s"),
                                   "ratio": ratio(drain["1"]["events_per_s"], peer1.get("graphile_batched_jobs_per_s"))},
                             "2": {"worker_events_per_s": drain.get("n2", {}).get("events_per_s"),
                                   "graphile_jobs_per_s": gbat,
                                   "ratio": ratio(drain.get("n2", {}).get("events_per_s"), gbat)}},
                         "two_vs_one": ratio(drain["p2"]["events_per_s"], drain["p1"]["events_per_s"])}
    if has("e2e.txt"):
        p50, p99, mx, n = read(p("e2e.txt")).strip().split("|")
        dead_path = p("e2e-dead.txt")
        dead = [int(x) for x in (read(dead_path).split() if os.path.exists(dead_path) else []) if x.isdigit()]
        res["end_to_end"] = {"p50_ms": float(p50), "p99_ms": float(p99), "max_ms": float(mx), "events": int(n),
                             "queue_dead_tuples_max": max(dead or [0]), "queue_dead_tuples_samples": len(dead),
                             "traffic": json.loads(read(p("e2e-traffic.json")))}
    peaks = {k: int(read(p(f"{k}_peak.txt")).strip() or 0) if has(f"{k}_peak.txt") else 0 for k in ("ingest", "worker")}
    if any(peaks.values()):
        res["peak_rss"] = {"ingest_mib": peaks["ingest"] / 1024, "worker_mib": peaks["worker"] / 1024}
    res["board"] = board_section(tmp)
    res["board_callcentre"] = callcentre_section(tmp)
    res["board_1000"] = board_section(tmp, sfx="-1000")
    res["login_flood"] = login_section(tmp)
    res["history"] = history_section(tmp)
    res["deliveries"] = deliveries_section(tmp)

    ing, wk, e2e, rss, board = res["ingest"], res["worker"], res["end_to_end"], res["peak_rss"], res["board"]
    ext, prune = res["ingest_external"], res["prune"]
    measured = {
        "ingest_vs_single_row_ceiling": ext and ext["vs_single_row_ceiling"],
        "ingest_vs_http_limit": ext and ext["vs_http_limit"],
        "ingest_p99_ms": ext and ext["p99_ms"],
        "one_worker_vs_graphile_batched": wk and wk["one_vs_graphile_batched"],
        "one_worker_vs_claim_complete_ceiling": wk and wk["one_vs_claim_complete_ceiling"],
        "two_processes_vs_graphile_batched": wk and wk["like_for_like"]["2"]["ratio"],
        "two_workers_vs_one": wk and wk["two_vs_one"],
        "e2e_p99_ms": e2e and e2e["p99_ms"],
        "queue_dead_tuples_share": e2e and e2e["events"] and round(e2e["queue_dead_tuples_max"] / e2e["events"], 4),
        # Only a run of at least 1,000,000 events says anything of the target
        # (a smaller one is null: not met).
        "prune_1m_seconds": (prune["partition_seconds"]
                             if prune and prune["events"] >= 1_000_000 else None),
        "peak_rss_mib": rss and max(rss.values()),
        # p99 over every (probe, stream) pair, a pair never delivered counted
        # as infinitely late: null (not met) when more than 1% were lost.
        "board_sse_p99_ms": board and board["p99_counting_lost_ms"],
        "board_peak_mib": board and board["peak_mib"],
        # The board of a call centre: only with at least 1,000 extensions
        # and 100 queues (else null: not met).
        "board_callcentre_sse_p99_ms": (res["board_callcentre"]["p99_counting_lost_ms"]
                                        if res["board_callcentre"] and res["board_callcentre"]["extensions"] >= 1000
                                        and res["board_callcentre"]["queues"] >= 100 else None),
        "board_1000_streams_p99_ms": res["board_1000"] and res["board_1000"]["p99_counting_lost_ms"],
        "board_1000_streams_peak_mib": res["board_1000"] and res["board_1000"]["peak_mib"],
        # Only a flood of at least 200 logins, 40 at a time, says anything.
        "login_flood_growth_mib": (res["login_flood"]["growth_mib"]
                                   if res["login_flood"] and res["login_flood"]["logins"] >= 200
                                   and res["login_flood"]["concurrency"] >= 40 else None),
        # Only a search over at least 10,000,000 calls says anything of the
        # target (a smaller one is null: not met).
        "history_p99_ms": (res["history"]["p99_ms"]
                           if res["history"] and res["history"]["calls"] >= 10_000_000 else None),
        "delivery_p99_ms": res["deliveries"] and res["deliveries"]["p99_ms"],
    }
    res["targets"] = {}
    for name, _label, target, ok in TARGETS:
        v = measured[name]
        res["targets"][name] = {"met": v is not None and bool(ok(v, target)), "value": v, "target": target}
    return res


def board_rows(board, cpus):
    """The table rows of one board run."""
    f = lambda x, d=0: "-" if x is None else f"{x:,.{d}f}"
    md = []
    st = board["stages"]
    stage = lambda k: f"{f(st[k]['p50_ms'], 1)} / {f(st[k]['p99_ms'], 1)}"
    md += [
        f"| board, {board['clients']:,} SSE streams at {board['events_per_second']:,.0f} events/s: webhook 200 -> SSE delta p50 / p99 / max (ms) | {f(board['p50_ms'], 1)} / {f(board['p99_ms'], 1)} / {f(board['max_ms'], 1)} | | |",
        f"| board: probes delivered to every stream; (probe, stream) pairs received | {board['probes_received_by_all']:,} of {board['probes_acknowledged']:,}; {board['pairs_received']:,} of {board['pairs_expected']:,} | | |",
        f"| board: 200 -> the last stream has it, p50 / p99 (ms) | {f(board['all_streams_p50_ms'], 1)} / {f(board['all_streams_p99_ms'], 1)} | | |",
        f"| board stages p50 / p99 (ms): 200 -> applied / applied -> first stream / first -> last stream | {stage('200_to_applied')} / {stage('applied_to_first_stream')} / {stage('first_to_last_stream')} | | |",
        f"| board: deltas per stream per s, mean delta size (bytes), sent to all streams (MiB/s) | {f(board['deltas_per_stream_per_s'], 1)}, {f(board['mean_delta_bytes'])}, {f(board['stream_mib_per_s'], 1)} | | |",
        f"| board resident memory with every stream open / peak (MiB) | {f(board['rss_connected_mib'], 1)} / {f(board['peak_mib'], 1)} | | |",
        f"| board CPU under load, s of {f(board['seconds'], 1)} s (share of one core); the measuring process's (streams, load, probes); the machine's busy cores | {f(board['cpu_seconds_load'], 1)} ({f((board['cpu_core_share_load'] or 0) * 100)}%); {f(board['watcher_cpu_seconds_load'], 1)}; {f(board['machine_busy_cores_load'], 2)} of {cpus} | | |",
    ]
    m = board["metrics"]
    if m:
        dropped = sum(v for k, v in m.items() if k.startswith("switchboard_board_streams_dropped_total"))
        md.append(f"| board: change notifications read / deltas sent / streams dropped / feed failures | "
                  f"{f(m.get('switchboard_board_notifications_total'))} / {f(m.get('switchboard_board_deltas_total'))} / "
                  f"{f(dropped)} / {f(m.get('switchboard_board_feed_failures_total', 0))} | | |")
    return md


def markdown(res):
    ing, wk, e2e, rss, board = res["ingest"], res["worker"], res["end_to_end"], res["peak_rss"], res["board"]
    ext, prune = res["ingest_external"], res["prune"]
    ceil, peer = res["anchors"]["pg_ceiling"], res["anchors"]["graphile"]
    single, batched = ceil.get("insert_1_per_tx_rows_per_s"), ceil.get("insert_batched_rows_per_s")
    claim = ceil.get("claim_complete_rows_per_s")
    gbat, gunb = peer.get("graphile_batched_jobs_per_s"), peer.get("graphile_unbatched_jobs_per_s")
    f = lambda x, d=0: "-" if x is None else f"{x:,.{d}f}"
    md = [
        f"Benchmark {res['date']} on {res['cpus']} CPUs (anchors measured in the same run)\n",
        "| measure | Switchboard | anchor | ratio |",
        "|---|---:|---:|---:|",
    ]
    if ing:
        md += [
            f"| ingest, signed Yeastar webhooks/s (64 concurrent) | {f(ing['accepted_per_s'])} | single-row insert ceiling {f(single)} | {f(ing['vs_single_row_ceiling'], 2)} |",
            f"| | | batched insert ceiling {f(batched)} | {f(ing['vs_batched_ceiling'], 2)} |",
            f"| ingest latency p50 / p99 / max (ms) | {f(ing['p50_ms'], 1)} / {f(ing['p99_ms'], 1)} / {f(ing['max_ms'], 1)} | | |",
            f"| ingest rows per commit (group commit) | {f(ing['rows_per_commit'], 1)} | | |",
        ]
    if ext:
        md += [
            f"| ingest from wrk (1 thread, 64 connections, pre-signed), accepted/s | {f(ext['accepted_per_s'])} | single-row insert ceiling {f(single)} | {f(ext['vs_single_row_ceiling'], 2)} |",
            f"| | | batched insert ceiling {f(batched)} | {f(ext['vs_batched_ceiling'], 2)} |",
            f"| | | the HTTP limit (traffic http-limit: the same bodies and HMAC, no database) {f((res['anchors']['http_limit'] or {}).get('accepted_per_s'))} | {f(ext['vs_http_limit'], 2)} |",
            f"| ingest from wrk: latency p50 / p90 / p99 / max (ms); errors; stored | {f(ext['p50_ms'], 1)} / {f(ext['p90_ms'], 1)} / {f(ext['p99_ms'], 1)} / {f(ext['max_ms'], 1)}; {ext['errors']:,}; {f(ext['stored'])} of {ext['requests']:,} | | |",
        ]
    if wk:
        drain = wk["drain"]
        md += [
            f"| worker drain, 1 process (2 claim loops, the default), events/s ({drain['1']['events']:,} events, batch {wk['batch_size']}) | {f(drain['1']['events_per_s'])} | claim+complete ceiling {f(claim)} | {f(wk['one_vs_claim_complete_ceiling'], 2)} |",
            f"| | | graphile-worker batched no-op jobs/s {f(gbat)} | {f(wk['one_vs_graphile_batched'], 2)} |",
            f"| | | graphile-worker unbatched {f(gunb)} | {f(ratio(drain['1']['events_per_s'], gunb), 2)} |",
            f"| worker drain, 1 process of 1 claim loop / 2 such processes, events/s | {f(drain['p1']['events_per_s'])} / {f(drain['p2']['events_per_s'])} | graphile-worker batched {f(gbat)} | {f(wk['two_vs_graphile_batched'], 2)} |",
            f"| 2 workers / 1 worker (1 claim loop each) | {f(wk['two_vs_one'], 2)} | | |",
        ]
        lfl = wk["like_for_like"]
        md += [
            f"| like for like, {n} worker process(es) as shipped / graphile-worker batched in {n} process(es), events/s | {f(lfl[n]['worker_events_per_s'])} | {f(lfl[n]['graphile_jobs_per_s'])} | {f(lfl[n]['ratio'], 2)} |"
            for n in ("1", "2")
        ]
        if wk.get("events_per_call"):
            md.append("| events per call (realistic scenarios, status events included) | "
                      + ", ".join(f"{k} {v['events_per_call']}" for k, v in wk["events_per_call"].items()) + " | | |")
    if e2e:
        md += [
            f"| end to end at {e2e['traffic']['events_per_second']:,.0f}/s: accepted -> applied p50 / p99 / max (ms) | {f(e2e['p50_ms'], 1)} / {f(e2e['p99_ms'], 1)} / {f(e2e['max_ms'], 1)} | | |",
            f"| queue dead tuples during the steady run, max of {e2e['queue_dead_tuples_samples']} samples | {e2e['queue_dead_tuples_max']:,} (of {e2e['events']:,} events) | | |",
        ]
    pgb = res.get("pgbouncer")
    if pgb:
        direct_ingest = ext and ext["accepted_per_s"]
        direct_drain = wk and wk["drain"]["1"]["events_per_s"]
        md += [
            f"| through PgBouncer (transaction mode): ingest from wrk, accepted/s; p99 (ms); errors | {f(pgb['ingest_accepted_per_s'])}; {f(pgb['ingest_p99_ms'], 1)}; {pgb['ingest_errors']:,} | direct {f(direct_ingest)} | {f(ratio(pgb['ingest_accepted_per_s'], direct_ingest), 2)} |",
            f"| through PgBouncer: worker drain, 1 process, events/s | {f(pgb['drain_events_per_s'])} | direct {f(direct_drain)} | {f(ratio(pgb['drain_events_per_s'], direct_drain), 2)} |",
        ]
    if prune:
        md.append(f"| prune {prune['events']:,} processed events: whole day (worker prune) / row by row, the old inbox (s) | "
                  f"{f(prune['partition_seconds'], 3)} | {f(prune['rows_seconds'], 1)} | {f(ratio(prune['rows_seconds'], prune['partition_seconds']))}x faster |")
        if prune.get("probe_worst_ms") is not None:
            md.append(f"| inserts into the inbox meanwhile (one at a time, from 1 s before to 1 s after): count; p99 / slowest (ms) | "
                      f"{f(prune['probe_inserts'])}; {f(prune['probe_p99_ms'], 1)} / {f(prune['probe_worst_ms'], 1)} | | |")
    if rss:
        md.append(f"| peak resident memory, ingest / worker (MiB) | {f(rss['ingest_mib'], 1)} / {f(rss['worker_mib'], 1)} | | |")
    for b in (board, res.get("board_1000")):
        if b:
            md += board_rows(b, res["cpus"])
    lf = res.get("login_flood")
    if lf:
        answers = ", ".join(f"{n:,} x {s}" for s, n in sorted(lf["statuses"].items()))
        md.append(f"| board under a login flood, {lf['logins']:,} failed logins {lf['concurrency']} at a time in {f(lf['seconds'], 1)} s ({answers}): "
                  f"resident before / peak ({lf['samples']:,} samples) / after (MiB) | {f(lf['before_mib'], 1)} / {f(lf['peak_mib'], 1)} / {f(lf['after_mib'], 1)} | | |")
    cc = res.get("board_callcentre")
    if cc:
        md.append(f"| board of a call centre ({cc['extensions']:,} extensions, {cc['queues']:,} queues, {cc['agents']:,} agents, "
                  f"{cc['waiting']:,} waiting), {cc['clients']:,} SSE streams at {cc['events_per_second']:,.0f} events/s: "
                  f"webhook 200 -> SSE delta p50 / p99 / max (ms) | {f(cc['p50_ms'], 1)} / {f(cc['p99_ms'], 1)} / {f(cc['max_ms'], 1)} | | |")
        md.append(f"| board of a call centre: probes delivered to every stream; snapshot (bytes); mean delta (bytes); "
                  f"resident with every stream open / peak (MiB) | {cc['probes_received_by_all']:,} of {cc['probes_acknowledged']:,}; "
                  f"{f(cc['snapshot_bytes'])}; {f(cc['mean_delta_bytes'])}; {f(cc['rss_connected_mib'], 1)} / {f(cc['peak_mib'], 1)} | | |")
    hist = res.get("history")
    if hist:
        md.append(f"| history search over {hist['calls']:,} calls, {hist['searches']:,} searches: p50 / p99 / max (ms) | "
                  f"{f(hist['p50_ms'], 1)} / {f(hist['p99_ms'], 1)} / {f(hist['max_ms'], 1)} | | |")
        kinds = ", ".join(f"{k} {f(v['p99_ms'], 1)}" for k, v in hist["kinds"].items())
        md.append(f"| history search p99 by kind (ms): {kinds} | | | |")
    dl = res.get("deliveries")
    if dl:
        md.append(f"| events out: deliveries/s to a local receiver (drain of {dl['drain_deliveries']:,}, one endpoint) | {f(dl['deliveries_per_s'])} | | |")
        md.append(f"| events out at {dl['traffic']['events_per_second']:,.0f} webhooks/s, 5 endpoints (one answering 500): accepted -> received p50 / p99 / max (ms), {dl['delivered']:,} deliveries to the 4 healthy, {dl['failing_attempts']:,} attempts on the failing one | "
                  f"{f(dl['p50_ms'], 1)} / {f(dl['p99_ms'], 1)} / {f(dl['max_ms'], 1)} | | |")
        md.append(f"| peak resident (MiB): `worker deliver` (the drain); `worker run --deliver` (the steady run) | {f(dl['deliver_peak_mib'], 1)}; {f(dl.get('run_deliver_peak_mib', 0), 1)} | | |")
    md += [
        "",
        "| target | measured | met |",
        "|---|---:|---|",
    ]
    for name, label, _target, _ok in TARGETS:
        t = res["targets"][name]
        md.append(f"| {label} | {f(t['value'], 2)} | {'yes' if t['met'] else 'no'} |")
    return "\n".join(md) + "\n"


def main(argv):
    if len(argv) != 4:
        sys.exit("usage: python3 bench/report.py TMP_DIR OUT_DIR BATCH_SIZE")
    tmp, out, batch = argv[1], argv[2], int(argv[3])
    res = build(tmp, batch)
    text = markdown(res)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    os.makedirs(out, exist_ok=True)
    for name in (f"bench-{stamp}.json", "latest.json"):
        with open(os.path.join(out, name), "w") as fh:
            json.dump(res, fh, indent=2)
    with open(os.path.join(out, "latest.md"), "w") as fh:
        fh.write(text)
    print(text)
    rel = os.path.relpath(out)
    print(f"written: {rel}/bench-{stamp}.json, {rel}/latest.json, {rel}/latest.md")


if __name__ == "__main__":
    main(sys.argv)
