#!/usr/bin/env python3
"""Seeds a call centre for the board_callcentre bench section, as signed
Yeastar webhooks through ingest: EXTENSIONS extensions registered (from
3000 on), QUEUES queues (6000 on) of EXTENSIONS/QUEUES agents each (every
extension an agent: three in four available, one in four paused for
lunch), and one caller waiting in each queue.

usage: callcentre-seed.py INGEST_URL SOURCE SECRET EXTENSIONS QUEUES
Prints the number of events accepted (all must be: exit 1 otherwise)."""

import base64
import hashlib
import hmac
import json
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor


def envelope(event, msg):
    """A Yeastar envelope with `msg` as a JSON-encoded string (30007, 30011)."""
    return json.dumps({"type": event, "sn": "3631A2124XXX", "msg": json.dumps(msg)}).encode()


def bodies(extensions, queues):
    per = max(1, extensions // queues)
    for e in range(extensions):
        yield envelope(30007, {"extension": str(3000 + e), "kind": "Sip", "status": "Registered"})
    for q in range(queues):
        queue = str(6000 + q)
        for a in range(per):
            agent = str(3000 + (q * per + a) % extensions)
            status, reason = ("Paused", "Lunch") if a % 4 == 3 else ("Available", "")
            yield json.dumps({"type": 30029, "msg": {"queue_number": f"queue-{queue}", "agent_number": agent,
                                                      "status": status, "reason": reason}}).encode()
    for q in range(queues):
        queue, call = str(6000 + q), f"1796000000.{q}"
        caller = f"+1555{7000000 + q:07d}"
        yield envelope(30011, {"call_id": call, "members": [{"inbound": {
            "from": caller, "to": queue, "trunk_name": "SIP-Trunk1",
            "channel_id": f"PJSIP/trunk-inbound-{call}", "member_status": "ALERT",
            "call_path": f"queue-{queue}"}}]})


def main(argv):
    if len(argv) != 6:
        sys.exit(__doc__)
    url, source, secret, extensions, queues = argv[1], argv[2], argv[3], int(argv[4]), int(argv[5])
    key = secret.encode()

    def post(body):
        sig = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        req = urllib.request.Request(f"{url}/webhooks/{source}", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "X-Signature": sig})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status

    # Registrations and agents first, then the waiting callers.
    items = list(bodies(extensions, queues))
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(post, items))
    ok = sum(1 for s in statuses if s == 200)
    print(ok)
    if ok != len(items):
        sys.exit(f"only {ok} of {len(items)} events accepted")


if __name__ == "__main__":
    main(sys.argv)
