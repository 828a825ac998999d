"""A proxy on 127.0.0.1 that stands between a client and one bench server (moto or the registry) and
makes every request cost a fixed delay, as a real region's round trip does, counting them.

  python3 scripts/bench/latency.py --listen 5130 --target 127.0.0.1:5055 --delay-ms 50

Each request waits --delay-ms before it is forwarded (the request's trip), then is forwarded as is
(Host header kept, so the registry's Location URLs name the proxy) and its answer returned.
  GET    /_latency   the requests so far: [{"method", "path", "operation", "at_ms"}] (at_ms: when it
                     arrived, ms since the proxy started)
  DELETE /_latency   forget them
The operation is the AWS API's (X-Amz-Target, Action= of a query request) or empty. Bench
equipment for scripts/bench-latency.sh; not part of the tool."""

import argparse
import http.client
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()
_requests = []
_started = time.monotonic()
HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"}


def _operation(headers, body: bytes) -> str:
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    if body[:7] == b"Action=":
        return urllib.parse.parse_qs(body.decode("latin-1")).get("Action", [""])[0]
    return ""


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    target = ""
    delay = 0.0

    def log_message(self, fmt, *args):
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status, body: bytes, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        body = self._body()
        if self.path.startswith("/_latency"):
            with _lock:
                if self.command == "DELETE":
                    _requests.clear()
                listing = json.dumps(_requests).encode()
            return self._reply(200, listing, [("Content-Type", "application/json")])
        with _lock:
            _requests.append({"method": self.command, "path": self.path.split("?")[0],
                              "operation": _operation(self.headers, body),
                              "at_ms": round((time.monotonic() - _started) * 1000)})
        time.sleep(self.delay)
        conn = http.client.HTTPConnection(self.target, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            return self._reply(502, f"latency proxy: {self.target}: {e}".encode())
        finally:
            conn.close()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP and k.lower() != "content-length":
                self.send_header(k, v)
        # A HEAD's Content-Length is the GET's (a manifest's size), not the empty body's.
        length = resp.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--target", required=True, help="host:port")
    ap.add_argument("--delay-ms", type=float, default=50)
    args = ap.parse_args()
    Proxy.target = args.target
    Proxy.delay = args.delay_ms / 1000
    server = ThreadingHTTPServer(("127.0.0.1", args.listen), Proxy)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
