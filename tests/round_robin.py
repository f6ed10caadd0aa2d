"""A tiny round-robin HTTP proxy: one webhook address in front of several bot replicas.

Each POST goes to the next replica in turn, body and headers (the Telegram secret
token among them) as they came; a replica that does not answer is skipped, as a
load balancer's health check would.  `routed` says which replica took each update.
"""
from __future__ import annotations

import itertools
import json
import socket
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FORWARDED = ("Content-Type", "X-Telegram-Bot-Api-Secret-Token", "X-Bot-Api-Secret-Token")  # Telegram, Zalo


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now (for a replica's webhook)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RoundRobin:
    def __init__(self, backends: list[str]):
        self.backends = list(backends)  # base URLs, e.g. http://127.0.0.1:8443
        self.routed: dict[int, int] = {}  # update_id -> index of the replica that took it
        self._turn = itertools.cycle(range(len(self.backends)))
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> RoundRobin:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, data = proxy.forward(self.path, body, {
                    h: self.headers[h] for h in FORWARDED if self.headers.get(h)})
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def forward(self, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
        """(status, body) from the next replica that answers; 502 when none does."""
        for _ in self.backends:
            with self._lock:
                turn = next(self._turn)
            request = urllib.request.Request(self.backends[turn] + path, body, headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, data = response.status, response.read()
            except urllib.error.HTTPError as e:
                status, data = e.code, e.read()
            except OSError:
                continue  # that replica is down: the next one takes it
            try:
                update_id = json.loads(body).get("update_id")
            except (ValueError, AttributeError):
                update_id = None
            if update_id is not None:
                with self._lock:
                    self.routed[update_id] = turn
            return status, data
        return 502, b"no replica answered"
