"""The ``/console`` routes of the local service: the job index and the job page, as HTML.

``GET /console`` (also ``/console/`` and ``/console/jobs``): one page of jobs (index_page.py), filtered by
``state`` and ``label=key:value``, paged by ``after``. ``GET /console/jobs/<jobId>``: the job page
(page.py), its log tail filtered by ``replica`` and ``trial``. Anything else: a styled 404 page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.local.engine import NotFound
from airflow_provider_trainjobs.local.errors import ApiError
from airflow_provider_trainjobs.local.logging_api import DEFAULT_PROJECT, entry
from airflow_provider_trainjobs.local.validation import check_project

if TYPE_CHECKING:
    from airflow_provider_trainjobs.local.engine import Engine
    from airflow_provider_trainjobs.local.request import Request

PREFIX = "/console"
_CONSOLE = re.compile(r"^/console/jobs/(?P<job>[^/]+)$")
_INDEX = ("/console", "/console/", "/console/jobs", "/console/jobs/")
LOG_ROWS = 200
LOG_SCAN = 20_000  # log rows read at most to fill a filtered tail (a page costs this, not the job's log size)
PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}:[a-z0-9_-]{0,63}$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass
class ConsoleSettings:
    """Set once by ``serve``: where the Airflow UI is, for the links from a job to its task."""

    airflow_url: str = ""


SETTINGS = ConsoleSettings()


def matches(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def handle(engine: Engine, request: Request) -> tuple[int, str]:
    """(status, HTML page) for a console request; a styled 404 page for anything it does not serve."""
    from airflow_provider_trainjobs.local.page_style import message_page, not_found_page

    project = request.query.get("project") or DEFAULT_PROJECT
    check_project(project, "project")
    if request.method != "GET":
        raise ApiError(404, f"no console route {request.method} {request.path}")
    try:
        if request.path in _INDEX:
            return 200, _index(engine, project, request.query)
        match = _CONSOLE.match(request.path)
        if not match:
            return 404, not_found_page(f"No console page {request.path[:200]}", project)
        wanted = match["job"]
        job = _console_job(engine, project, wanted)
        if job is None:
            return 404, not_found_page(f"No job {wanted[:200]}", project)
        return 200, _job_page(engine, project, job, request.query)
    except BadQuery as err:
        return 400, message_page("Bad request", str(err), project)


class BadQuery(ValueError):
    """A console query parameter that breaks its rule; answered with a styled 400 page naming it."""


def _query_value(query: dict[str, str], name: str, pattern: re.Pattern[str], rule: str) -> str:
    value = (query.get(name) or "").strip()
    if value and not pattern.match(value):
        raise BadQuery(f"{name}: {value[:80]!r} {rule}")
    return value


def _index(engine: Engine, project: str, query: dict[str, str]) -> str:
    from airflow_provider_trainjobs.local.index_page import STATES, render_index
    from airflow_provider_trainjobs.local.job_pages import after_seq, read_page

    state = (query.get("state") or "").strip().upper()
    if state and state not in STATES:
        raise BadQuery(f"state: {state[:40]!r} is not one of {', '.join(STATES)}")
    label = _query_value(query, "label", _LABEL, "must be key:value (label key and value rules)")
    try:
        after = after_seq(query.get("after"))
        size = int(query.get("size") or PAGE_SIZE)
    except ValueError as err:
        raise BadQuery(f"after/size: {err}") from None
    size = max(1, min(size, MAX_PAGE_SIZE))
    where, args = ["project = ?"], [project]
    if state:
        where.append("state = ?")
        args.append(state)
    if label:
        key, _, value = label.partition(":")
        where.append("EXISTS (SELECT 1 FROM job_labels l WHERE l.project = jobs.project AND l.job_id = jobs.job_id"
                     " AND l.key = ? AND l.value = ?)")
        args += [key, value]
    page = read_page(engine.store, " AND ".join(where), args, lambda _job: True, after_seq=after, page_size=size)
    return render_index(page.jobs, project=project, state=state, label=label, next_token=page.next_token,
                        first_page=after == 0, airflow_url=SETTINGS.airflow_url)


def _log_tail(engine: Engine, project: str, job_id: str, replica: str, trial: str
              ) -> tuple[list[dict[str, Any]], set[str]]:
    """The last LOG_ROWS rows of the job's log that match ``replica``/``trial`` (oldest first), and the
    replica names seen while reading (for the filter links)."""
    kept: list[dict[str, Any]] = []
    names: set[str] = set()
    offset = 0
    while len(kept) < LOG_ROWS and offset < LOG_SCAN:
        rows = engine.store.logs(project, job_id, limit=500, start_id=offset, descending=True)
        for row in rows:
            names.add(str(row["task_name"]))
            if (not replica or row["task_name"] == replica) and (not trial or (row["trial_id"] or "") == trial):
                kept.append(row)
                if len(kept) == LOG_ROWS:
                    break
        if len(rows) < 500:
            break
        offset += len(rows)
    return [entry(project, job_id, r) for r in reversed(kept)], names


def _job_page(engine: Engine, project: str, job: dict[str, Any], query: dict[str, str]) -> str:
    from airflow_provider_trainjobs.local.page import LogFilter, render_job_page

    replica = _query_value(query, "replica", _NAME, "must be a replica name such as master-replica-0")
    trial = _query_value(query, "trial", _NAME, "must be a trial id")
    entries, names = _log_tail(engine, project, job["jobId"], replica, trial)
    trials = sorted({str(t.get("trialId")) for t in (job.get("trainingOutput") or {}).get("trials") or []},
                    key=lambda t: (len(t), t))
    log_filter = LogFilter(project=project, replica=replica, trial=trial, replicas=sorted(names | {replica} - {""}),
                           trials=trials)
    return render_job_page(job, entries, log_filter=log_filter, airflow_url=SETTINGS.airflow_url)


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
