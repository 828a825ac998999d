"""A forwarding HTTP proxy on 127.0.0.1 that counts what it forwarded: the corporate proxy of the
bench's tests (HTTPS_PROXY / HTTP_PROXY pointed at it).

    python3 scripts/bench/proxy.py [--port N]

prints `listening 127.0.0.1:<port>` once it accepts. It forwards absolute-form requests
(`GET http://host:port/path`, plain HTTP through a proxy) and tunnels CONNECT host:port (HTTPS
through a proxy), one connection per client connection. `GET /_proxy/counts` (origin form, asked of
the proxy itself) answers JSON {"host:port": {"requests": n, "tunnels": n}}. Standard library only;
every socket has a timeout.
"""

import argparse
import json
import select
import socket
import socketserver
import sys
import threading
from urllib.parse import urlsplit

COUNTS = {}
LOCK = threading.Lock()
TIMEOUT = 300


def count(target: str, kind: str) -> None:
    with LOCK:
        c = COUNTS.setdefault(target, {"requests": 0, "tunnels": 0})
        c[kind] += 1


def read_head(sock) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(65536)
        if not chunk:
            break
        head += chunk
        if len(head) > 1 << 20:
            break
    return head


def pipe(a, b) -> None:
    """Copies both ways until one side closes."""
    socks = [a, b]
    while True:
        ready, _, _ = select.select(socks, [], [], TIMEOUT)
        if not ready:
            return
        for s in ready:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        client = self.request
        client.settimeout(TIMEOUT)
        head = read_head(client)
        if not head:
            return
        line, _, rest = head.partition(b"\r\n")
        try:
            method, target, version = line.decode("latin-1").split(" ", 2)
        except ValueError:
            client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host, int(port)), timeout=30)
            count(target, "tunnels")
            client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            _, _, early = head.partition(b"\r\n\r\n")
            if early:
                upstream.sendall(early)
            with upstream:
                pipe(client, upstream)
            return
        if target.startswith("/_proxy/counts"):
            with LOCK:
                body = json.dumps(COUNTS).encode()
            client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                           + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            return
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname:
            client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        port = url.port or 80
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        upstream = socket.create_connection((url.hostname, port), timeout=30)
        count(f"{url.hostname}:{port}", "requests")
        # One request per connection, both ways: the request goes up with its Content-Length body
        # (chunked request bodies are not relayed), the answer comes back with Connection: close.
        head_part, _, body = rest.partition(b"\r\n\r\n")
        headers = [h for h in head_part.split(b"\r\n") if h and not h.lower().startswith(
            (b"proxy-connection:", b"connection:", b"keep-alive:"))]
        length = next((int(h.split(b":", 1)[1]) for h in headers
                       if h.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = client.recv(min(65536, length - len(body)))
            if not chunk:
                break
            body += chunk
        request = (f"{method} {path} {version}\r\n".encode("latin-1") + b"\r\n".join(headers)
                   + b"\r\nConnection: close\r\n\r\n" + body)
        with upstream:
            upstream.settimeout(TIMEOUT)
            upstream.sendall(request)
            answer = read_head(upstream)
            status, _, rest = answer.partition(b"\r\n")
            head_part, _, early = rest.partition(b"\r\n\r\n")
            kept = [h for h in head_part.split(b"\r\n") if h and not h.lower().startswith(
                (b"connection:", b"keep-alive:"))]
            client.sendall(status + b"\r\n" + b"\r\n".join(kept + [b"Connection: close"])
                           + b"\r\n\r\n" + early)
            while chunk := upstream.recv(65536):
                client.sendall(chunk)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"listening 127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
