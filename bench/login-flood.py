#!/usr/bin/env python3
"""A login flood on a running board (`just bench`, section `login`): LOGINS
failed logins, CONCURRENCY at a time, half for unknown users (the dummy
hash) and half wrong passwords for USER; the board's resident memory
(VmRSS) before, sampled every 20 ms during, and after. Prints JSON.

    python3 bench/login-flood.py URL PID USER LOGINS CONCURRENCY

The board must run with limits high enough for the flood
(BOARD_LOGIN_FAILURES_PER_USER, _PER_ADDRESS), or most answers are 429.
"""
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def main(argv):
    if len(argv) != 6:
        sys.exit(__doc__)
    url, pid, user, logins, concurrency = argv[1], int(argv[2]), argv[3], int(argv[4]), int(argv[5])
    opener = urllib.request.build_opener(NoRedirect)

    def login(i):
        name = f"nobody-{i}" if i % 2 == 0 else user
        body = urllib.parse.urlencode({"username": name, "password": f"flood guess {i}"}).encode()
        rq = urllib.request.Request(f"{url}/login", data=body, headers={"Origin": url})
        try:
            with opener.open(rq, timeout=60) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            return 0

    before = rss_kib(pid)
    peak, samples, done = [before], [0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid))
            samples[0] += 1
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        statuses = list(pool.map(login, range(logins)))
    seconds = time.monotonic() - t0
    done.set()
    sampler.join()
    time.sleep(1)
    after = rss_kib(pid)
    counts = {}
    for s in statuses:
        counts[str(s)] = counts.get(str(s), 0) + 1
    print(json.dumps({
        "logins": logins, "concurrency": concurrency, "seconds": round(seconds, 3),
        "statuses": counts, "before_kib": before, "peak_kib": max(peak[0], after),
        "after_kib": after, "samples": samples[0],
    }))


if __name__ == "__main__":
    main(sys.argv)
