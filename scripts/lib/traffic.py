"""One client requesting `/` through a load balancer, one request after another, until a stop file
appears (at most 15 minutes): the request loop of the rollout benchmarks (scripts/lib/under-load.sh
runs it around a deploy). Writes OUT as JSON: the answers counted by body (`seen`), the 200s
(`answered`), the failed requests (`failed`, any other status or no answer) with the first five
errors, and `seconds`, the deploy's duration the stop file carries ("START END", epoch seconds).

usage: python3 scripts/lib/traffic.py LB HOST STOP OUT   (HOST: the Host header, "" for LB's own)"""

import json
import os
import sys
import time
import urllib.request


def main() -> None:
    lb, host, stop, out = sys.argv[1:]
    headers = {"Host": host} if host else {}
    seen, ok, failed, errors = {}, 0, 0, []
    until = time.time() + 900
    while not os.path.exists(stop) and time.time() < until:
        try:
            req = urllib.request.Request(lb + "/", headers=headers)
            with urllib.request.urlopen(req, timeout=5) as r:
                body = r.read().decode().strip()
                seen[body] = seen.get(body, 0) + 1
                ok += r.status == 200
                failed += r.status != 200
        except Exception as e:
            failed += 1
            errors.append(str(e))
    start, end = (float(t) for t in open(stop).read().split()) if os.path.exists(stop) else (0, 0)
    json.dump({"seen": seen, "answered": ok, "failed": failed, "errors": errors[:5],
               "seconds": round(end - start, 1)}, open(out, "w"))


if __name__ == "__main__":
    main()
