"""What every HTTP surface of the local service shares: a loopback server with a real backlog, handlers
that set TCP_NODELAY and a read timeout, read bodies within a cap, and answer every refusal (including the
standard library's own: bad request line, unknown verb, oversized headers) in Google's JSON error shape."""

from __future__ import annotations

import json
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from airflow_provider_trainjobs.local import guard
from airflow_provider_trainjobs.local.errors import ApiError
from airflow_provider_trainjobs.local.limits import LISTEN_BACKLOG, Limits

MAX_CHUNK_LINE = 1024


class LoopbackServer(ThreadingHTTPServer):
    """A threading server on 127.0.0.1 with ``LISTEN_BACKLOG`` pending connections and the service limits."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, port: int, handler: Any, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        super().__init__(("127.0.0.1", port), handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class FrontHandler(BaseHTTPRequestHandler):
    """Base handler: socket options, Google-shaped errors, guarded body reading. ``max_body`` is per surface."""

    server: LoopbackServer
    default_request_version = "HTTP/1.0"  # an unreadable request line still gets a status line

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.limits.read_timeout)  # a silent connection is closed
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def max_body(self) -> int:
        return self.server.limits.max_request_bytes

    # ----------------------------------------------------------------------------- answers
    def send_json(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(code, json.dumps(body).encode(), "application/json", headers)

    def send_bytes(self, code: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in {**guard.COMMON_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_api_error(self, err: ApiError) -> None:
        self.send_json(err.code, err.body())

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (bad request line, headers too large, unknown verb), as JSON."""
        self.close_connection = True
        if code == 501:  # an unknown verb: Google's front end answers 405
            code, message = 405, f"Method not allowed: {self.command!r}"
        elif code == 505:  # a malformed request, as far as the client is concerned: a 4xx
            code = 400
        short = self.responses.get(code, ("error", ""))[0]
        self.send_api_error(ApiError(code, f"{message or short}"))

    def refuse_method(self) -> None:
        self.close_connection = True
        self.send_api_error(ApiError(405, f"Method not allowed: {self.command} {self.path.split('?')[0]}"))

    do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = refuse_method  # noqa: N815 - stdlib naming

    # ----------------------------------------------------------------------------- checks
    def check_caller(self, *, page: bool = False) -> None:
        """Host and Origin rules (guard.py); raises ApiError 403. ``page``: a link from another site's page
        (the Airflow UI's job link) may open it; everything else must come from a client or this service."""
        guard.check_host(self.headers, self.server.port)
        guard.check_origin(self.headers, self.server.port)
        if not page:
            guard.check_fetch_site(self.headers)

    def content_length(self) -> int:
        """The declared body length; ApiError 400/411/413 (before reading anything) when it cannot be served."""
        if "Transfer-Encoding" in self.headers and self.headers["Transfer-Encoding"].strip().lower() != "identity":
            raise ApiError(411, "Transfer-Encoding: send the body with a Content-Length", "INVALID_ARGUMENT")
        text = (self.headers.get("Content-Length") or "0").strip()
        if not text.isdigit() or len(text) > 18:
            raise ApiError(400, "Content-Length: must be a non-negative integer")
        length = int(text)
        if length > self.max_body():
            raise ApiError(413, f"request body: {length} bytes is over this service's limit of {self.max_body()}"
                                " bytes", "INVALID_ARGUMENT")
        return length

    def read_chunked(self) -> bytes:
        """A chunked body, de-chunked, refused with 413 as soon as it passes the cap."""
        data = bytearray()
        while True:
            line = self.rfile.readline(MAX_CHUNK_LINE).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                raise ApiError(400, "Transfer-Encoding: a chunk size is not hexadecimal") from None
            if size < 0 or len(data) + size > self.max_body():
                raise ApiError(413, f"request body: over this service's limit of {self.max_body()} bytes",
                               "INVALID_ARGUMENT")
            if size == 0:
                while self.rfile.readline(MAX_CHUNK_LINE).strip():  # trailers
                    pass
                return bytes(data)
            data += self.rfile.read(size)
            self.rfile.readline(MAX_CHUNK_LINE)
