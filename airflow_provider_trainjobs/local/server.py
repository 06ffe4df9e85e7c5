"""The HTTP front of the local service: reads each request, routes it, answers in Google's shapes.

Routes live in modules of their own (``ml_api`` ml v1 jobs, ``vertex_api`` Vertex AI jobs,
``logging_api`` Cloud Logging ``entries:list``, ``console`` the job page, ``admin_api`` fault
injection); this module owns the plumbing: body reading, fault injection on the API routes, and the
one mapping from exceptions to Google's error answer ``{"error": {"code", "message", "status"}}`` (so
googleapiclient raises ``HttpError`` carrying the message). Binds to 127.0.0.1 only; who may call it is
decided by ``guard`` (Host, Origin, JSON bodies, the admin token) before any route runs. A POST with
``X-HTTP-Method-Override: GET`` (googleapiclient's form for a GET whose URL passes 2 KB) is routed as that GET.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from airflow_provider_trainjobs.local import admin_api, console, guard, logging_api, ml_api, vertex_api
from airflow_provider_trainjobs.local.engine import Engine
from airflow_provider_trainjobs.local.errors import ApiError, api_error, no_route
from airflow_provider_trainjobs.local.faults import Faults
from airflow_provider_trainjobs.local.front import FrontHandler, LoopbackServer
from airflow_provider_trainjobs.local.limits import Limits
from airflow_provider_trainjobs.local.request import Request, override_query, parse_query

# The API routes, in the order they are tried: (matches(path), handle(engine, request)).
API_ROUTES: tuple[tuple[Callable[[str], bool], Callable[[Engine, Request], tuple[int, Any]]], ...] = (
    (logging_api.matches, logging_api.handle),
    (vertex_api.matches, vertex_api.handle),
    (ml_api.matches, ml_api.handle),
)


class LocalServer(LoopbackServer):
    """The API server: carries the engine, the fault settings and the admin token for its handlers."""

    def __init__(self, port: int, engine: Engine, faults: Faults, storage_endpoint: str,
                 limits: Limits | None = None) -> None:
        super().__init__(port, Handler, limits)
        self.engine = engine
        self.faults = faults
        self.storage_endpoint = storage_endpoint
        self.started = time.time()
        self.admin_token = guard.create_admin_token(Path(engine.data_dir))


class Handler(FrontHandler):
    server: LocalServer
    protocol_version = "HTTP/1.1"

    def _read(self, method: str) -> Request:
        """The request with its whole body read (an unread body would be taken for the next request on a
        keep-alive connection). Callers and bodies the guard refuses are answered unread, and the
        connection is closed."""
        try:
            self.check_caller(page=method == "GET" and console.matches(urlparse(self.path).path))
            length = self.content_length()
            override = guard.method_override(method, self.headers, length)
            if override is None:
                guard.check_json_body(method, self.headers, length)
        except ApiError:
            self.close_connection = True
            raise
        raw = self.rfile.read(length) if length else b""
        url = urlparse(self.path)
        if override is not None:  # googleapiclient's long GET: the query came as the body
            return Request(override, unquote(url.path), parse_query(override_query(url.query, raw)), b"", self.headers)
        return Request(method, unquote(url.path), parse_query(url.query), raw, self.headers)

    def _dispatch(self, method: str) -> None:
        try:
            self._route(self._read(method))
        except TimeoutError:
            raise  # the standard library closes the connection
        except Exception as err:  # noqa: BLE001 - every error is answered in Google's shape, the server keeps serving
            self.send_api_error(api_error(err) or ApiError(500, f"internal error: {type(err).__name__}"))

    def _route(self, request: Request) -> None:
        path = request.path
        if path == "/healthz":
            self.send_json(200, {"status": "ok", "pid": os.getpid()})
        elif admin_api.matches(path):
            self.send_json(*admin_api.handle(self.server.faults, self.server.admin_token, request))
        elif console.matches(path):
            code, page = console.handle(self.server.engine, request)
            self.send_bytes(code, page.encode(), "text/html", guard.PAGE_HEADERS)
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
                self.send_json(*handle(self.server.engine, request))
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
