"""An HTTP proxy in front of the local service that loses answers to creates after the service processed them.

The service's own fault injection drops a connection before it does the work; a create whose answer is lost
after the work is done (the case that makes twins) needs someone between client and service: this proxy
forwards each request, reads the service's answer, and for a chosen fraction of create POSTs closes the
client's connection instead of sending it on. It counts the creates the service received.
"""

from __future__ import annotations

import http.client
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

CREATE_SUFFIXES = ("/jobs", "/customJobs", "/hyperparameterTuningJobs")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


@dataclass
class LossyProxy:
    """Where the proxy listens, and what it did."""

    endpoint: str
    lose_rate: float = 0.0
    lose_next: int = 0  # lose the answers of the next N creates whatever the rate
    seed: int = 0
    creates: int = 0  # create POSTs forwarded to the service
    lost: int = 0  # answers to them not passed on
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def decide(self, method: str, path: str) -> bool:
        """Count a create and say whether its answer is lost."""
        if method != "POST" or not urlparse(path).path.endswith(CREATE_SUFFIXES):
            return False
        with self._lock:
            self.creates += 1
            lose = self.lose_next > 0 or self._random.random() < self.lose_rate
            self.lose_next = max(0, self.lose_next - 1)
            self.lost += lose
            return lose


@contextmanager
def lossy_proxy(upstream: str, *, lose_rate: float = 0.0, lose_next: int = 0, seed: int = 0) -> Iterator[LossyProxy]:
    """Run a proxy to ``upstream`` (``http://127.0.0.1:PORT``) on a free loopback port while the block runs."""
    target = urlparse(upstream)
    state: LossyProxy

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}}
            conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                content = answer.read()
            finally:
                conn.close()
            if state.decide(self.command, self.path):
                self.close_connection = True  # the service did the work; its answer never arrives
                return
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = LossyProxy(f"http://127.0.0.1:{server.server_address[1]}", lose_rate, lose_next, seed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
