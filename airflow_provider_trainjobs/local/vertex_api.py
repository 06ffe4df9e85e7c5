"""The ``aiplatform`` v1 routes of the local service: customJobs and hyperparameterTuningJobs.

``POST/GET /v1/projects/{p}/locations/{l}/{kind}``, ``GET .../{kind}/{id}`` and ``POST .../{kind}/{id}:cancel``
for kind = customJobs | hyperparameterTuningJobs. Jobs run on the same engine as the ml v1 routes (see
``vertex_jobs``); ids are numeric and assigned here. Errors use Google's JSON shape through ``ApiError``.
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.local.engine import FailedPrecondition, NotFound
from airflow_provider_trainjobs.local.errors import ApiError, list_request, method_not_found, no_route
from airflow_provider_trainjobs.local.validation import check_location, check_project, spec_crashes_are_400
from airflow_provider_trainjobs.local.vertex_jobs import (
    CUSTOM_JOBS,
    SCHEMAS,
    TUNING_JOBS,
    filter_view,
    new_record,
    to_resource,
    validate_request,
)

if TYPE_CHECKING:
    from airflow_provider_trainjobs.local.engine import Engine
    from airflow_provider_trainjobs.local.request import Request

PREFIX = "/v1/projects/"
_ROUTE = re.compile(
    r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/(?P<kind>customJobs|hyperparameterTuningJobs)"
    r"(?:/(?P<id>[^/:]+)(?P<verb>:cancel)?)?$"
)
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
_ids = threading.Lock()
_last_id = 0


def matches(path: str) -> bool:
    return bool(_ROUTE.match(path))


def _new_id() -> str:
    """A numeric id, strictly increasing within the process and across restarts (time-based, 19 digits)."""
    global _last_id
    with _ids:
        _last_id = max(time.time_ns(), _last_id + 1)
        return str(_last_id)


def _record(engine: Engine, project: str, location: str, kind: str, job_id: str) -> dict[str, Any]:
    name = f"projects/{project}/locations/{location}/{kind}/{job_id}"
    missing = ApiError(404, f"The {kind[:-1]} {name} was not found.", "NOT_FOUND")
    try:
        job = engine.get(project, job_id)
    except NotFound:
        raise missing from None
    vertex = job.get("vertex") or {}
    if vertex.get("kind") != kind or vertex.get("location") != location:
        raise missing
    return job


def resource(engine: Engine, project: str, job: dict[str, Any]) -> dict[str, Any]:
    history = engine.store.history(project, job["jobId"])
    return to_resource(job, history[-1][1] if history else None)


def handle(engine: Engine, request: Request) -> tuple[int, Any]:
    """Answer one request on a Vertex route; raises ApiError (or an engine exception) for error answers."""
    method, path, query = request.method, request.path, request.query
    body: Any = request.json() if method == "POST" else None
    match = _ROUTE.match(path)
    if not match:
        raise no_route(method, path)
    project, location, kind = match["project"], match["location"], match["kind"]
    job_id, verb = match["id"], match["verb"]
    check_project(project, "parent" if job_id is None else "name")
    check_location(location, "parent" if job_id is None else "name")
    if job_id is None:
        if method == "POST":
            with spec_crashes_are_400(SCHEMAS[kind].removeprefix("GoogleCloudAiplatformV1")):
                validate_request(kind, body)
                record = new_record(kind, project, location, _new_id(), body)
            job = engine.create(project, record)
            return 200, resource(engine, project, job)
        if method == "GET":
            return 200, _list(engine, project, location, kind, query)
    elif verb == ":cancel":
        if method == "POST":
            job = _record(engine, project, location, kind, job_id)
            try:
                engine.cancel(project, job_id)
            except FailedPrecondition:
                state = resource(engine, project, engine.get(project, job_id))["state"]
                raise ApiError(400, f"Cannot cancel {job['vertex']['name']}: it is {state}.",
                                  "FAILED_PRECONDITION") from None
            return 200, {}
    elif method == "GET":
        return 200, resource(engine, project, _record(engine, project, location, kind, job_id))
    raise method_not_found(method, path)


def _list(engine: Engine, project: str, location: str, kind: str, query: dict[str, str]) -> dict[str, Any]:
    after, page_size, predicate = list_request(query, default_size=DEFAULT_PAGE_SIZE, max_size=MAX_PAGE_SIZE)
    # Match on a resource built without the history query (its updateTime is approximate); only a filter on
    # updateTime needs the exact one. Full resources are built for the page alone.
    exact = "update" in (query.get("filter") or "").lower()

    def matches_filter(job: dict[str, Any]) -> bool:
        return predicate(filter_view(resource(engine, project, job) if exact else to_resource(job)))

    page = engine.list_page(project, matches_filter, filter_text=query.get("filter"), page_size=page_size,
                            after_seq=after, kind=kind, location=location)
    key = CUSTOM_JOBS if kind == CUSTOM_JOBS else TUNING_JOBS
    result: dict[str, Any] = {key: [resource(engine, project, job) for job in page.jobs]} if page.jobs else {}
    if page.next_token:
        result["nextPageToken"] = page.next_token
    return result
