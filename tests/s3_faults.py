"""A fault-injecting HTTP proxy in front of moto's S3 server, for S3 error tests.

Every n-th request is answered with a throttling error (503 SlowDown), a server error
(500 InternalError) or a dropped connection, in turn; all others are forwarded unchanged.
``deny`` answers reads (GET/HEAD) of chosen objects with a fixed status instead, for faults
that are not transient: 404 (deleted after it was listed) or 403 (no permission to read).
"""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

ERRORS = {
    503: ("SlowDown", "Reduce your request rate."),
    500: ("InternalError", "We encountered an internal error."),
    404: ("NoSuchKey", "The specified key does not exist."),
    403: ("AccessDenied", "Access Denied"),
}


def error_body(status: int) -> bytes:
    """S3's XML error document for ``status``."""
    code, message = ERRORS[status]
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'.encode()
    )


class FaultyS3Proxy:
    def __init__(self, upstream: str, every: int = 5, deny: dict[str, int] | None = None):
        """``every``: inject a transient fault every n-th request (0: never). ``deny``: object
        key (as it appears in the request path, URL-encoded) -> status for its GETs and HEADs."""
        self.upstream = urlparse(upstream)
        self.every = every
        self.deny = dict(deny or {})
        self.denied: dict[str, int] = {k: 0 for k in self.deny}
        self.requests = 0
        self.injected = {"503": 0, "500": 0, "reset": 0}
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _read_body(self) -> bytes | None:
                # The AWS SDK streams uploads with chunked transfer encoding; de-chunk them and
                # forward with a Content-Length (the aws-chunked payload inside is untouched).
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    data = bytearray()
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(data)
                        data += self.rfile.read(size)
                        self.rfile.read(2)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else None

            def _handle(self):
                body = self._read_body()
                fault = proxy._denied(self.command, self.path) or proxy._next_fault()
                if fault == "reset":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if fault in ("503", "500", "404", "403"):
                    payload = error_body(int(fault))
                    self.send_response(int(fault))
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("connection", "expect", "transfer-encoding")
                }
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                        self.send_header(k, v)
                # A HEAD response announces the object's size, not its own (empty) body's.
                length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _denied(self, method: str, path: str) -> str | None:
        if method not in ("GET", "HEAD"):
            return None
        key = urlparse(path).path
        for name, status in self.deny.items():
            if key.endswith("/" + name):
                with self._lock:
                    self.denied[name] += 1
                return str(status)
        return None

    def _next_fault(self) -> str | None:
        with self._lock:
            self.requests += 1
            if not self.every or self.requests % self.every:
                return None
            kind = ("503", "500", "reset")[(self.requests // self.every) % 3]
            self.injected[kind] += 1
            return kind

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
