"""The HTTP front of the local service: ml v1 jobs, Cloud Logging ``entries:list``, console page, admin.

Errors use Google's JSON shape ``{"error": {"code", "message", "status"}}`` so googleapiclient raises
``HttpError`` carrying the message. Binds to 127.0.0.1 only.
"""

from __future__ import annotations

import html
import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from airflow_provider_trainjobs.local import vertex_api
from airflow_provider_trainjobs.local.engine import (
    Aborted,
    AlreadyExists,
    Engine,
    FailedPrecondition,
    NotFound,
)
from airflow_provider_trainjobs.local.errors import ApiError, list_request
from airflow_provider_trainjobs.local.faults import Faults
from airflow_provider_trainjobs.local.filters import FilterError, parse_log_filter
from airflow_provider_trainjobs.local.store import parse_rfc3339_us, rfc3339_us
from airflow_provider_trainjobs.local.validation import InvalidRequest, validate_job_request

_JOBS = re.compile(r"^/v1/projects/(?P<project>[^/]+)/jobs$")
_JOB = re.compile(r"^/v1/projects/(?P<project>[^/]+)/jobs/(?P<job>[^/:]+)(?P<verb>:cancel)?$")
_CONSOLE = re.compile(r"^/console/jobs/(?P<job>[^/]+)$")
DEFAULT_PROJECT = "local-project"


def _method_not_found(method: str, path: str) -> ApiError:
    """What Google's front end answers for a verb a resource does not serve (404, "Method not found.")."""
    return ApiError(404, f"Method not found: {method} {path}")


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


def _entry(project: str, job_id: str, row: dict[str, Any]) -> dict[str, Any]:
    labels = {"task_name": row["task_name"]}
    if row["trial_id"]:
        labels["trial_id"] = row["trial_id"]
    return {
        "insertId": str(row["id"]),
        "logName": f"projects/{project}/logs/{row['task_name']}",
        "timestamp": rfc3339_us(row["ts"]),
        "receiveTimestamp": rfc3339_us(row["ts"]),
        "severity": row["severity"],
        "labels": labels,
        "resource": {"type": "ml_job", "labels": {"job_id": job_id, "project_id": project,
                                                   "task_name": row["task_name"]}},
        "jsonPayload": {"message": row["message"]},
    }


class Handler(BaseHTTPRequestHandler):
    server: LocalServer
    protocol_version = "HTTP/1.1"
    _raw: bytes = b""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    # ----------------------------------------------------------------------------- plumbing
    def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = (json.dumps(body) if content_type == "application/json" else str(body)).encode()
        self.send_response(code)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, err: ApiError) -> None:
        self._send(err.code, {"error": {"code": err.code, "message": err.message, "status": err.status}})

    def _body(self) -> Any:
        """The request body as JSON ({} when empty); read once per request by ``_dispatch``."""
        if not self._raw:
            return {}
        try:
            return json.loads(self._raw)
        except ValueError:
            raise ApiError(400, "request body: not valid JSON") from None

    def _dispatch(self, method: str) -> None:
        # Read the whole body before any answer, whatever the route: an unread body would be taken for the
        # next request on a keep-alive connection.
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._error(ApiError(400, "Content-Length: must be a non-negative integer"))
            return
        self._raw = self.rfile.read(length) if length else b""
        url = urlparse(self.path)
        path = unquote(url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if path == "/healthz":
                self._send(200, {"status": "ok", "pid": os.getpid()})
                return
            if path.startswith("/admin/"):
                self._admin(method, path)
                return
            if path.startswith("/console/"):
                self._console(method, path, query)
                return
            decision = self.server.faults.decide()
            if decision.latency:
                time.sleep(decision.latency)
            if decision.drop:
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            if decision.code is not None:
                raise ApiError(decision.code, f"injected fault: {decision.status}", decision.status)
            self._api(method, path, query)
        except ApiError as err:
            self._error(err)
        except Exception as err:  # noqa: BLE001 - answer 500 with the reason, keep serving
            self._error(ApiError(500, f"{type(err).__name__}: {err}"))

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

    # ----------------------------------------------------------------------------- routes
    def _api(self, method: str, path: str, query: dict[str, str]) -> None:
        engine = self.server.engine
        if path == "/v2/entries:list" and method == "POST":
            self._send(200, self._entries(self._body()))
            return
        if vertex_api.matches(path):
            body = self._body() if method == "POST" else None
            code, answer = vertex_api.handle(engine, method, path, query, body)
            self._send(code, answer)
            return
        if match := _JOBS.match(path):
            project = match["project"]
            if method == "POST":
                body = self._body()
                try:
                    validate_job_request(body)
                except InvalidRequest as err:
                    raise ApiError(400, str(err)) from None
                try:
                    self._send(200, engine.create(project, body))
                except AlreadyExists as err:
                    raise ApiError(409, str(err)) from None
                return
            if method == "GET":
                self._send(200, self._list(project, query))
                return
            raise _method_not_found(method, path)
        if match := _JOB.match(path):
            project, job_id = match["project"], match["job"]
            body = self._body() if method in ("POST", "PATCH") else {}
            try:
                if "vertex" in engine.get(project, job_id):  # a Vertex job: not an ml v1 resource
                    raise NotFound(f"Field: name Error: The specified job projects/{project}/jobs/{job_id} was"
                                   " not found.")
                if match["verb"] == ":cancel":
                    if method != "POST":
                        raise _method_not_found(method, path)
                    engine.cancel(project, job_id)
                    self._send(200, {})
                elif method == "GET":
                    self._send(200, engine.get(project, job_id))
                elif method == "PATCH":
                    try:
                        job = engine.patch_labels(project, job_id, body, query.get("updateMask", ""))
                    except Aborted as err:
                        raise ApiError(409, str(err), "ABORTED") from None
                    except (ValueError, TypeError) as err:
                        if isinstance(err, FailedPrecondition):
                            raise
                        raise ApiError(400, str(err)) from None
                    self._send(200, job)
                else:
                    raise _method_not_found(method, path)
            except NotFound as err:
                raise ApiError(404, str(err)) from None
            except FailedPrecondition as err:
                raise ApiError(400, str(err), "FAILED_PRECONDITION") from None
            return
        raise ApiError(404, f"Requested entity was not found: no route for {method} {path}")

    def _list(self, project: str, query: dict[str, str]) -> dict[str, Any]:
        offset, page_size, predicate = list_request(query, default_size=20, max_size=100)
        jobs = [job for job in self.server.engine.list(project) if "vertex" not in job and predicate(job)]
        page = jobs[offset : offset + page_size]
        result: dict[str, Any] = {}
        if page:
            result["jobs"] = page
        if offset + page_size < len(jobs):
            result["nextPageToken"] = str(offset + page_size)
        return result

    def _entries(self, body: dict[str, Any]) -> dict[str, Any]:
        names = body.get("resourceNames") or body.get("projectIds") or []
        projects = [n.split("/", 1)[1] if n.startswith("projects/") else n for n in names]
        try:
            terms = parse_log_filter(str(body.get("filter") or ""))
        except FilterError as err:
            raise ApiError(400, str(err)) from None
        job_id = None
        after: int | None = None
        inclusive = False
        wanted: dict[str, str] = {}
        for field, op, value in terms:
            if field == "resource.type":
                if op != "=" or value != "ml_job":
                    raise ApiError(400, f"filter: only resource.type=\"ml_job\" is served here; got {value!r}")
            elif field == "resource.labels.job_id" and op == "=":
                job_id = value
            elif field == "resource.labels.project_id" and op == "=":
                projects = [value]
            elif field == "timestamp" and op in (">", ">="):
                try:
                    after = parse_rfc3339_us(value)
                except ValueError:
                    raise ApiError(400, f"filter: timestamp {value!r} is not RFC 3339") from None
                inclusive = op == ">="
            elif field in ("labels.task_name", "labels.trial_id", "severity") and op == "=":
                wanted[field] = value
            elif field == "severity" and op == ">=":
                wanted["severity>="] = value
            else:
                raise ApiError(400, f"filter: the term {field}{op}{value!r} is not supported by the local service")
        if not job_id:
            raise ApiError(400, 'filter: resource.labels.job_id="<jobId>" is required by the local service')
        project = projects[0] if projects else DEFAULT_PROJECT
        order = str(body.get("orderBy") or "timestamp asc").strip().lower()
        if order not in ("timestamp asc", "timestamp desc", "timestamp"):
            raise ApiError(400, f"orderBy: only 'timestamp asc' or 'timestamp desc'; got {order!r}")
        try:
            page_size = int(body.get("pageSize") or 1000)
            offset = int(body.get("pageToken") or 0)
        except ValueError:
            raise ApiError(400, "pageSize/pageToken: must be integers issued by this service") from None
        page_size = max(1, min(page_size, 1000))
        levels = ["DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY"]
        rows: list[dict[str, Any]] = []
        scan = offset
        more = False
        while len(rows) < page_size:
            batch = self.server.engine.store.logs(
                project, job_id, after=after, after_inclusive=inclusive, start_id=scan, limit=page_size + 1,
                descending=order == "timestamp desc",
            )
            if not batch:
                break
            for row in batch:
                scan += 1
                keep = all(
                    (key == "labels.task_name" and row["task_name"] == value)
                    or (key == "labels.trial_id" and (row["trial_id"] or "") == value)
                    or (key == "severity" and row["severity"] == value)
                    or (key == "severity>=" and levels.index(row["severity"]) >= levels.index(value.upper()))
                    for key, value in wanted.items()
                )
                if keep:
                    if len(rows) == page_size:
                        more = True
                        scan -= 1
                        break
                    rows.append(row)
            if more or len(batch) < page_size + 1:
                break
        result: dict[str, Any] = {"entries": [_entry(project, job_id, r) for r in rows]} if rows else {}
        if more:
            result["nextPageToken"] = str(scan)
        return result

    def _admin(self, method: str, path: str) -> None:
        if path == "/admin/faults":
            if method == "POST":
                body = self._body()
                if not isinstance(body, dict):
                    raise ApiError(400, "request body: must be a JSON object of fault settings")
                try:
                    self._send(200, self.server.faults.update(body))
                except (TypeError, ValueError) as err:
                    raise ApiError(400, str(err)) from None
                return
            if method == "GET":
                self._send(200, self.server.faults.describe())
                return
        raise ApiError(404, f"no admin route {method} {path}")

    def _console(self, method: str, path: str, query: dict[str, str]) -> None:
        match = _CONSOLE.match(path)
        if method != "GET" or not match:
            raise ApiError(404, f"no console route {method} {path}")
        project = query.get("project") or DEFAULT_PROJECT
        wanted = match["job"]
        engine = self.server.engine
        job = _console_job(engine, project, wanted)
        if job is None:
            page = (
                "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Job not found</title></head><body>"
                f"<h1>Job not found</h1><p>No job <code>{html.escape(wanted)}</code> in project"
                f" <code>{html.escape(project)}</code> on this local service.</p></body></html>"
            )
            self._send(404, page, "text/html")
            return
        from airflow_provider_trainjobs.local.page import render_job_page

        job_id = job["jobId"]
        rows = engine.store.logs(project, job_id, limit=200, descending=True)
        entries = [_entry(project, job_id, r) for r in reversed(rows)]
        self._send(200, render_job_page(job, entries), "text/html")


def _console_job(engine: Engine, project: str, wanted: str) -> dict[str, Any] | None:
    """The job a console URL names: an engine id (ml v1 jobId or Vertex numeric id), else the newest Vertex
    job whose ``trainjobs_job_id`` label or displayName is that jobId (what the provider submits)."""
    try:
        return engine.get(project, wanted)
    except NotFound:
        pass
    found = None
    for job in engine.list(project):
        vertex = job.get("vertex")
        if vertex and ((job.get("labels") or {}).get("trainjobs_job_id") == wanted.lower()
                       or (vertex.get("request") or {}).get("displayName") == wanted):
            found = job
    return found


def serve_in_thread(server: LocalServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    return thread

