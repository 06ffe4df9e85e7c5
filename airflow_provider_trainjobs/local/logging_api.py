"""The Cloud Logging subset of the local service: ``POST /v2/entries:list`` over the jobs' stored log rows.

The filter is AND-joined comparisons (``filters.parse_log_filter``); ``resource.labels.job_id`` is
required. Entries carry the fields the provider's log tailing reads (see docs/local-service.md "Logging").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.local.errors import ApiError, method_not_found
from airflow_provider_trainjobs.local.filters import FilterError, parse_log_filter
from airflow_provider_trainjobs.local.store import parse_rfc3339_us, rfc3339_us
from airflow_provider_trainjobs.local.validation import check_project

if TYPE_CHECKING:
    from airflow_provider_trainjobs.local.engine import Engine
    from airflow_provider_trainjobs.local.request import Request

PATH = "/v2/entries:list"
DEFAULT_PROJECT = "local-project"
MAX_PAGE_SIZE = 1000
LEVELS = ("DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY")
_RANK = {level: rank for rank, level in enumerate(LEVELS)}
_ORDERS = ("timestamp asc", "timestamp desc", "timestamp")


@dataclass
class LogQuery:
    """What an entries:list request asks for, read from its body."""

    project: str
    job_id: str
    after: int | None = None
    inclusive: bool = False
    descending: bool = False
    wanted: dict[str, str] = field(default_factory=dict)
    page_size: int = MAX_PAGE_SIZE
    offset: int = 0


def matches(path: str) -> bool:
    return path == PATH


def entry(project: str, job_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """A stored log row as a Cloud Logging LogEntry."""
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


def handle(engine: Engine, request: Request) -> tuple[int, Any]:
    if request.method != "POST":
        raise method_not_found(request.method, request.path)
    return 200, list_entries(engine, read_query(request.json()))


def _read_term(query: LogQuery, projects: list[str], term: tuple[str, str, str]) -> None:
    name, op, value = term
    if name == "resource.type":
        if op != "=" or value != "ml_job":
            raise ApiError(400, f"filter: only resource.type=\"ml_job\" is served here; got {value!r}")
    elif name == "resource.labels.job_id" and op == "=":
        query.job_id = value
    elif name == "resource.labels.project_id" and op == "=":
        check_project(value, "filter: resource.labels.project_id")
        projects[:] = [value]
    elif name == "timestamp" and op in (">", ">="):
        try:
            query.after = parse_rfc3339_us(value)
        except ValueError:
            raise ApiError(400, f"filter: timestamp {value!r} is not RFC 3339") from None
        query.inclusive = op == ">="
    elif name in ("labels.task_name", "labels.trial_id", "severity") and op == "=":
        query.wanted[name] = value
    elif name == "severity" and op == ">=":
        if value.upper() not in LEVELS:
            raise ApiError(400, f"filter: severity {value[:40]!r} is not a LogSeverity ({', '.join(LEVELS)})")
        query.wanted["severity>="] = value
    else:
        raise ApiError(400, f"filter: the term {name}{op}{value!r} is not supported by the local service")


def _projects(body: dict[str, Any]) -> list[str]:
    """The projects ``resourceNames`` (or the older ``projectIds``) name, each a valid project id."""
    key = "resourceNames" if body.get("resourceNames") else "projectIds"
    names = body.get(key) or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ApiError(400, f"{key}: must be a list of strings like 'projects/P'")
    projects = [n.split("/", 1)[1] if n.startswith("projects/") else n for n in names]
    for index, project in enumerate(projects):
        check_project(project, f"{key}[{index}]")
    return projects


def _string(body: dict[str, Any], key: str, default: str = "") -> str:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ApiError(400, f"{key}: must be a string")
    return value


def read_query(body: Any) -> LogQuery:
    """The LogQuery of an entries:list body; ApiError 400 naming the field that cannot be served."""
    if not isinstance(body, dict):
        raise ApiError(400, "request body: must be a JSON object (an entries.list request)")
    projects = _projects(body)
    try:
        terms = parse_log_filter(_string(body, "filter"))
    except FilterError as err:
        raise ApiError(400, str(err)) from None
    query = LogQuery(project="", job_id="")
    for term in terms:
        _read_term(query, projects, term)
    if not query.job_id:
        raise ApiError(400, 'filter: resource.labels.job_id="<jobId>" is required by the local service')
    query.project = projects[0] if projects else DEFAULT_PROJECT
    order = (_string(body, "orderBy") or "timestamp asc").strip().lower()
    if order not in _ORDERS:
        raise ApiError(400, f"orderBy: only 'timestamp asc' or 'timestamp desc'; got {order[:80]!r}")
    query.descending = order == "timestamp desc"
    size, token = body.get("pageSize"), body.get("pageToken")
    token = str(token) if isinstance(token, int) and not isinstance(token, bool) else _string(body, "pageToken") or "0"
    if size is not None and (isinstance(size, bool) or not isinstance(size, int | str) or
                             not str(size).strip().lstrip("-").isdigit()):
        raise ApiError(400, "pageSize: must be an integer")
    if not token.isdigit() or len(token) > 18:
        raise ApiError(400, "pageToken: must be a token issued by this service")
    query.page_size = max(1, min(int(size or MAX_PAGE_SIZE), MAX_PAGE_SIZE))
    query.offset = int(token)
    return query


def _keep(row: dict[str, Any], wanted: dict[str, str]) -> bool:
    """True when the row passes every label/severity term of the filter."""
    return all(
        (key == "labels.task_name" and row["task_name"] == value)
        or (key == "labels.trial_id" and (row["trial_id"] or "") == value)
        or (key == "severity" and row["severity"] == value)
        or (key == "severity>=" and _RANK.get(row["severity"], 0) >= _RANK[value.upper()])
        for key, value in wanted.items()
    )


def list_entries(engine: Engine, query: LogQuery) -> dict[str, Any]:
    """One page of entries; the page token is the scan position of the first row not answered."""
    rows: list[dict[str, Any]] = []
    scan = query.offset
    more = False
    while len(rows) < query.page_size:
        batch = engine.store.logs(
            query.project, query.job_id, after=query.after, after_inclusive=query.inclusive, start_id=scan,
            limit=query.page_size + 1, descending=query.descending,
        )
        if not batch:
            break
        for row in batch:
            scan += 1
            if _keep(row, query.wanted):
                if len(rows) == query.page_size:
                    more = True
                    scan -= 1
                    break
                rows.append(row)
        if more or len(batch) < query.page_size + 1:
            break
    result: dict[str, Any] = {"entries": [entry(query.project, query.job_id, r) for r in rows]} if rows else {}
    if more:
        result["nextPageToken"] = str(scan)
    return result
