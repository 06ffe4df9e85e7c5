"""The HTTP front of the local service: reads each request, routes it, answers in Google's shapes.

Routes live in modules of their own (``ml_api`` ml v1 jobs, ``vertex_api`` Vertex AI jobs,
``logging_api`` Cloud Logging ``entries:list``, ``console`` the job page, ``admin_api`` fault
injection); this module owns the plumbing: body reading, fault injection on the API routes, and the
one mapping from exceptions to Google's error answer ``{"error": {"code", "message", "status"}}`` (so
googleapiclient raises ``HttpError`` carrying the message). Binds to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from airflow_provider_trainjobs.local import admin_api, console, logging_api, ml_api, vertex_api
from airflow_provider_trainjobs.local.engine import Engine
from airflow_provider_trainjobs.local.errors import ApiError, api_error, no_route
from airflow_provider_trainjobs.local.faults import Faults
from airflow_provider_trainjobs.local.request import Request

# The API routes, in the order they are tried: (matches(path), handle(engine, request)).
API_ROUTES: tuple[tuple[Callable[[str], bool], Callable[[Engine, Request], tuple[int, Any]]], ...] = (
    (logging_api.matches, logging_api.handle),
    (vertex_api.matches, vertex_api.handle),
    (ml_api.matches, ml_api.handle),
)


class LocalServer(ThreadingHTTPServer):
    """ThreadingHTTPServer carrying the engine and fault settings for its handlers."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, engine: Engine, faults: Faults, storage_endpoint: str) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.engine = engine
        self.faults = faults
        self.storage_endpoint = storage_endpoint
        self.started = time.time()


class Handler(BaseHTTPRequestHandler):
    server: LocalServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = (json.dumps(body) if content_type == "application/json" else str(body)).encode()
        self.send_response(code)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, err: ApiError) -> None:
        self._send(err.code, err.body())

    def _read(self, method: str) -> Request | None:
        """The request, its whole body read (an unread body would be taken for the next request on a
        keep-alive connection); None after answering a bad Content-Length."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._error(ApiError(400, "Content-Length: must be a non-negative integer"))
            return None
        raw = self.rfile.read(length) if length else b""
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        return Request(method, unquote(url.path), query, raw)

    def _dispatch(self, method: str) -> None:
        request = self._read(method)
        if request is None:
            return
        try:
            self._route(request)
        except Exception as err:  # noqa: BLE001 - every error is answered in Google's shape, the server keeps serving
            self._error(api_error(err) or ApiError(500, f"{type(err).__name__}: {err}"))

    def _route(self, request: Request) -> None:
        path = request.path
        if path == "/healthz":
            self._send(200, {"status": "ok", "pid": os.getpid()})
        elif admin_api.matches(path):
            self._send(*admin_api.handle(self.server.faults, request))
        elif console.matches(path):
            code, page = console.handle(self.server.engine, request)
            self._send(code, page, "text/html")
        elif self._inject_fault():
            self._api(request)

    def _inject_fault(self) -> bool:
        """Apply the fault settings to an API request; False when the connection was dropped instead."""
        decision = self.server.faults.decide()
        if decision.latency:
            time.sleep(decision.latency)
        if decision.drop:
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
            return False
        if decision.code is not None:
            raise ApiError(decision.code, f"injected fault: {decision.status}", decision.status)
        return True

    def _api(self, request: Request) -> None:
        for matches, handle in API_ROUTES:
            if matches(request.path):
                self._send(*handle(self.server.engine, request))
                return
        raise no_route(request.method, request.path)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")


def serve_in_thread(server: LocalServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    return thread
