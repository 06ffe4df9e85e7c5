"""The ``/console`` routes of the local service: ``GET /console/jobs/<jobId>[?project=p]``, the job page.

The page itself is rendered by ``page.render_job_page``; this module finds the job a console URL names
and answers 404 with a small page when there is none.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.local.engine import NotFound
from airflow_provider_trainjobs.local.errors import ApiError
from airflow_provider_trainjobs.local.logging_api import DEFAULT_PROJECT, entry
from airflow_provider_trainjobs.local.validation import check_project

if TYPE_CHECKING:
    from airflow_provider_trainjobs.local.engine import Engine
    from airflow_provider_trainjobs.local.request import Request

PREFIX = "/console/"
_CONSOLE = re.compile(r"^/console/jobs/(?P<job>[^/]+)$")
LOG_ROWS = 200


def matches(path: str) -> bool:
    return path.startswith(PREFIX)


def handle(engine: Engine, request: Request) -> tuple[int, str]:
    """(status, HTML page) for a console request; ApiError 404 for anything but ``GET /console/jobs/<id>``."""
    match = _CONSOLE.match(request.path)
    if request.method != "GET" or not match:
        raise ApiError(404, f"no console route {request.method} {request.path}")
    project = request.query.get("project") or DEFAULT_PROJECT
    check_project(project, "project")
    wanted = match["job"]
    job = _console_job(engine, project, wanted)
    if job is None:
        page = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Job not found</title></head><body>"
            f"<h1>Job not found</h1><p>No job <code>{html.escape(wanted)}</code> in project"
            f" <code>{html.escape(project)}</code> on this local service.</p></body></html>"
        )
        return 404, page
    from airflow_provider_trainjobs.local.page import render_job_page

    job_id = job["jobId"]
    rows = engine.store.logs(project, job_id, limit=LOG_ROWS, descending=True)
    entries = [entry(project, job_id, r) for r in reversed(rows)]
    return 200, render_job_page(job, entries)


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
