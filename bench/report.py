#!/usr/bin/env python3
"""The report of `just bench`: reads what scripts/bench.sh left in TMP_DIR,
writes OUT_DIR/bench-STAMP.json, OUT_DIR/latest.json and OUT_DIR/latest.md,
and prints the markdown table.

    python3 bench/report.py TMP_DIR OUT_DIR BATCH_SIZE

Files read from TMP_DIR:
  pg-ceiling.txt, graphile.txt  the anchors' `name: value` lines (empty when
                                the anchors were skipped)
  ingest.json                   traffic generator summary of the ingest run
  group_commit.txt              switchboard_ingest_group_commit_size_{sum,count}
  drain-1.txt, drain-2.txt      `events|seconds` of the drains by 1 and 2 workers
  e2e.txt                       `p50|p99|max|count` of accepted -> applied, ms
  e2e-dead.txt                  inbox dead tuples, one sample per line
  e2e-traffic.json              traffic generator summary of the steady run
  ingest_peak.txt, worker_peak.txt  peak resident set size (VmHWM), KiB
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
    ("ingest_vs_single_row_ceiling", "ingest >= 1.5x the single-row insert ceiling", 1.5, lambda v, t: v >= t),
    ("ingest_p99_ms", "ingest p99 < 20 ms", 20, lambda v, t: v < t),
    ("one_worker_vs_graphile_batched", "1 worker >= graphile-worker batched no-op jobs", 1.0, lambda v, t: v >= t),
    ("two_workers_vs_one", "2 workers >= 1.6x 1 worker", 1.6, lambda v, t: v >= t),
    ("e2e_p99_ms", "end-to-end p99 < 50 ms at 1,000/s", 50, lambda v, t: v < t),
    ("peak_rss_mib", "every binary < 64 MiB resident (largest shown)", 64, lambda v, t: v < t),
]


def build(tmp, batch):
    p = lambda name: os.path.join(tmp, name)
    ceil, peer = kv(p("pg-ceiling.txt")), kv(p("graphile.txt"))
    ing = json.loads(read(p("ingest.json")))
    gc = kv(p("group_commit.txt"))
    drain = {}
    for w in (1, 2):
        n, secs = read(p(f"drain-{w}.txt")).strip().split("|")
        drain[w] = {"events": int(n), "seconds": float(secs), "events_per_s": int(n) / float(secs)}
    p50, p99, mx, n = read(p("e2e.txt")).strip().split("|")
    dead_path = p("e2e-dead.txt")
    dead = [int(x) for x in (read(dead_path).split() if os.path.exists(dead_path) else []) if x.isdigit()]
    e2e = {"p50_ms": float(p50), "p99_ms": float(p99), "max_ms": float(mx), "events": int(n),
           "inbox_dead_tuples_max": max(dead or [0]), "inbox_dead_tuples_samples": len(dead),
           "traffic": json.loads(read(p("e2e-traffic.json")))}
    rss = {"ingest_mib": int(read(p("ingest_peak.txt"))) / 1024,
           "worker_mib": int(read(p("worker_peak.txt"))) / 1024}

    single, batched = ceil.get("insert_1_per_tx_rows_per_s"), ceil.get("insert_batched_rows_per_s")
    claim, gbat = ceil.get("claim_complete_rows_per_s"), peer.get("graphile_batched_jobs_per_s")
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
    measured = {
        "ingest_vs_single_row_ceiling": res["ingest"]["vs_single_row_ceiling"],
        "ingest_p99_ms": ing["latency_ms_p99"],
        "one_worker_vs_graphile_batched": res["worker"]["one_vs_graphile_batched"],
        "two_workers_vs_one": res["worker"]["two_vs_one"],
        "e2e_p99_ms": e2e["p99_ms"],
        "peak_rss_mib": max(rss.values()),
    }
    res["targets"] = {}
    for name, _label, target, ok in TARGETS:
        v = measured[name]
        res["targets"][name] = {"met": v is not None and bool(ok(v, target)), "value": v, "target": target}
    return res


def markdown(res):
    ing, wk, e2e, rss = res["ingest"], res["worker"], res["end_to_end"], res["peak_rss"]
    ceil, peer = res["anchors"]["pg_ceiling"], res["anchors"]["graphile"]
    drain = wk["drain"]
    single, batched = ceil.get("insert_1_per_tx_rows_per_s"), ceil.get("insert_batched_rows_per_s")
    claim = ceil.get("claim_complete_rows_per_s")
    gbat, gunb = peer.get("graphile_batched_jobs_per_s"), peer.get("graphile_unbatched_jobs_per_s")
    f = lambda x, d=0: "-" if x is None else f"{x:,.{d}f}"
    md = [
        f"Benchmark {res['date']} on {res['cpus']} CPUs (anchors measured in the same run)\n",
        "| measure | Switchboard | anchor | ratio |",
        "|---|---:|---:|---:|",
        f"| ingest, signed Yeastar webhooks/s (64 concurrent) | {f(ing['accepted_per_s'])} | single-row insert ceiling {f(single)} | {f(ing['vs_single_row_ceiling'], 2)} |",
        f"| | | batched insert ceiling {f(batched)} | {f(ing['vs_batched_ceiling'], 2)} |",
        f"| ingest latency p50 / p99 / max (ms) | {f(ing['p50_ms'], 1)} / {f(ing['p99_ms'], 1)} / {f(ing['max_ms'], 1)} | | |",
        f"| ingest rows per commit (group commit) | {f(ing['rows_per_commit'], 1)} | | |",
        f"| worker drain, 1 process, events/s ({drain[1]['events']:,} events, batch {wk['batch_size']}) | {f(drain[1]['events_per_s'])} | claim+complete ceiling {f(claim)} | {f(wk['one_vs_claim_complete_ceiling'], 2)} |",
        f"| | | graphile-worker batched no-op jobs/s {f(gbat)} | {f(wk['one_vs_graphile_batched'], 2)} |",
        f"| | | graphile-worker unbatched {f(gunb)} | {f(ratio(drain[1]['events_per_s'], gunb), 2)} |",
        f"| worker drain, 2 processes, events/s | {f(drain[2]['events_per_s'])} | graphile-worker batched {f(gbat)} | {f(wk['two_vs_graphile_batched'], 2)} |",
        f"| 2 workers / 1 worker | {f(wk['two_vs_one'], 2)} | | |",
        f"| end to end at {e2e['traffic']['events_per_second']:,.0f}/s: accepted -> applied p50 / p99 / max (ms) | {f(e2e['p50_ms'], 1)} / {f(e2e['p99_ms'], 1)} / {f(e2e['max_ms'], 1)} | | |",
        f"| inbox dead tuples during the steady run, max of {e2e['inbox_dead_tuples_samples']} samples | {e2e['inbox_dead_tuples_max']:,} (of {e2e['events']:,} events) | | |",
        f"| peak resident memory, ingest / worker (MiB) | {f(rss['ingest_mib'], 1)} / {f(rss['worker_mib'], 1)} | | |",
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
