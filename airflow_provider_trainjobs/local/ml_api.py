"""The ``ml`` v1 routes of the local service: ``projects.jobs`` create, get, list, cancel and label patch.

``POST/GET /v1/projects/{p}/jobs``, ``GET/PATCH /v1/projects/{p}/jobs/{j}`` and ``POST …/{j}:cancel``.
Vertex jobs live in the same engine but are not ml v1 resources: they answer 404 here and are left out
of lists. Engine exceptions are mapped to Google's error answer by the server (``errors.api_error``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.local.engine import NotFound
from airflow_provider_trainjobs.local.errors import ApiError, list_request, method_not_found, no_route
from airflow_provider_trainjobs.local.validation import InvalidRequest, check_project, validate_job_request

if TYPE_CHECKING:
    from airflow_provider_trainjobs.local.engine import Engine
    from airflow_provider_trainjobs.local.request import Request

_JOBS = re.compile(r"^/v1/projects/(?P<project>[^/]+)/jobs$")
_JOB = re.compile(r"^/v1/projects/(?P<project>[^/]+)/jobs/(?P<job>[^/:]+)(?P<verb>:cancel)?$")
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def matches(path: str) -> bool:
    return bool(_JOBS.match(path) or _JOB.match(path))


def handle(engine: Engine, request: Request) -> tuple[int, Any]:
    """Answer one request on an ml v1 jobs route; raises ApiError or an engine exception for errors."""
    method, path = request.method, request.path
    if match := _JOBS.match(path):
        project = match["project"]
        check_project(project, "parent")
        if method == "POST":
            body = request.json()
            try:
                validate_job_request(body)
            except InvalidRequest as err:
                raise ApiError(400, str(err)) from None
            return 200, engine.create(project, body)
        if method == "GET":
            return 200, _list(engine, project, request.query)
        raise method_not_found(method, path)
    match = _JOB.match(path)
    if not match:
        raise no_route(method, path)
    project, job_id = match["project"], match["job"]
    check_project(project, "name")
    body = request.json() if method in ("POST", "PATCH") else {}
    if "vertex" in engine.get(project, job_id):  # a Vertex job: not an ml v1 resource
        raise NotFound(f"Field: name Error: The specified job projects/{project}/jobs/{job_id} was not found.")
    if match["verb"] == ":cancel":
        if method != "POST":
            raise method_not_found(method, path)
        engine.cancel(project, job_id)
        return 200, {}
    if method == "GET":
        return 200, engine.get(project, job_id)
    if method == "PATCH":
        return 200, _patch(engine, project, job_id, body, request.query.get("updateMask", ""))
    raise method_not_found(method, path)


def _patch(engine: Engine, project: str, job_id: str, body: Any, update_mask: str) -> dict[str, Any]:
    """Replace the job's labels: only ``updateMask=labels``, and the labels must follow the label rules."""
    from airflow_provider_trainjobs.spec.rules import check_labels

    fields = [f.strip() for f in (update_mask or "").split(",") if f.strip()]
    if fields != ["labels"]:
        raise ApiError(400, f"updateMask: only 'labels' can be updated; got {update_mask!r}")
    if not isinstance(body, dict):
        raise ApiError(400, "request body: must be a JSON object holding the Job's labels")
    labels = body.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ApiError(400, "labels: must be a map of strings to strings")
    problems = check_labels(labels)
    if problems:
        field, rule = problems[0]
        raise ApiError(400, f"{field}: {rule}")
    return engine.patch_labels(project, job_id, body, update_mask)


def _list(engine: Engine, project: str, query: dict[str, str]) -> dict[str, Any]:
    """One page in creation order, served by the engine's keyset pages (the token is a creation sequence)."""
    after, page_size, predicate = list_request(query, default_size=DEFAULT_PAGE_SIZE, max_size=MAX_PAGE_SIZE)
    page = engine.list_page(project, predicate, filter_text=query.get("filter"), page_size=page_size,
                            after_seq=after)
    result: dict[str, Any] = {}
    if page.jobs:
        result["jobs"] = page.jobs
    if page.next_token:
        result["nextPageToken"] = page.next_token
    return result
