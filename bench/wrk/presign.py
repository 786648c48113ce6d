#!/usr/bin/env python3
"""Pre-signs Yeastar call-status webhooks for wrk (bench/wrk/ingest.lua).

    python3 bench/wrk/presign.py SECRET COUNT OUT_FILE [FIRST]

Writes COUNT lines (numbered from FIRST, 0 by default: a warm-up file and
the measured one get distinct bodies) `signature<TAB>body`: distinct 30011 bodies (a ringing or
answered inbound call, each with its own call id), each with its X-Signature
(Base64 HMAC-SHA256 of the body under SECRET, as the PBX sends it). Signing
ahead keeps HMAC and JSON out of the load generator, so that it costs the
machine as little as possible while it measures ingest.
"""
import base64
import hashlib
import hmac
import json
import sys


def body(i):
    status = "ALERT" if i % 2 == 0 else "ANSWER"
    ext = str(3000 + i % 200)
    msg = {
        "call_id": f"wrk-{i // 2}",
        "members": [
            {"inbound": {"from": f"0770090{i // 2 % 100000:05d}", "to": ext, "trunk_name": "Telco-Main",
                         "channel_id": f"PJSIP/trunk-Telco-Main-endpoint-{i:08x}",
                         "member_status": "ANSWERED" if status == "ANSWER" else "RING", "call_path": ""}},
            {"extension": {"number": ext, "channel_id": f"PJSIP/{ext}-{i:08x}",
                           "member_status": status, "call_path": " "}},
        ],
    }
    return json.dumps({"type": 30011, "sn": "3632C0418MWE", "msg": json.dumps(msg, separators=(",", ":"))},
                      separators=(",", ": "))


def main(argv):
    if len(argv) not in (4, 5):
        sys.exit("usage: presign.py SECRET COUNT OUT_FILE [FIRST]")
    secret, count, out = argv[1].encode(), int(argv[2]), argv[3]
    first = int(argv[4]) if len(argv) == 5 else 0
    with open(out, "w") as f:
        for i in range(first, first + count):
            b = body(i)
            sig = base64.b64encode(hmac.new(secret, b.encode(), hashlib.sha256).digest()).decode()
            f.write(f"{sig}\t{b}\n")


if __name__ == "__main__":
    main(sys.argv)
