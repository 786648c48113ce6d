#!/usr/bin/env python3
"""Inserts one event at a time into the inbox (as ingest does, through
`events`) over one psql connection until STOP_FILE exists, timing each;
prints `name: value` lines: inserts, worst_ms, p99_ms. The bench runs it
beside `worker prune` to show how long prune holds ingest up.

usage: insert-probe.py DATABASE_URL STOP_FILE PSQL"""
import os
import subprocess
import sys
import time

url, stop, psql = sys.argv[1], sys.argv[2], sys.argv[3]
p = subprocess.Popen([psql, "-qAtX", url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     text=True, bufsize=1)
times = []
n = 0
deadline = time.time() + 120
while not os.path.exists(stop) and time.time() < deadline:
    t0 = time.perf_counter()
    p.stdin.write("INSERT INTO events (source, provider, body, dedup_key) "
                  f"VALUES ('pbx', 'yeastar', 'x', 'probe-{n}') RETURNING 1;\n")
    p.stdin.flush()
    p.stdout.readline()
    times.append(time.perf_counter() - t0)
    n += 1
p.stdin.close()
p.wait()
times.sort()
p99 = times[min(len(times) - 1, int(len(times) * 0.99))] if times else 0.0
print(f"probe_inserts: {n}")
print(f"probe_worst_ms: {times[-1] * 1000 if times else 0.0:.1f}")
print(f"probe_p99_ms: {p99 * 1000:.1f}")
