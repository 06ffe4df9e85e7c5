"""The Cloud Logging subset of the local service: ``POST /v2/entries:list`` over the jobs' stored log rows.

The filter is comparisons joined by AND / OR with parentheses (``filters.parse_log_filter``), each OR-ed
group naming one ``resource.labels.job_id`` (and optionally its own ``timestamp>=``), as the provider's
poller sends for many jobs at once, or none with a ``timestamp>`` floor: every job of the project from then
on (what the poller sends when the ids would need more filters than its budget). Entries of all named jobs come in (timestamp, insertId) order; the page
token is the (timestamp, insertId) of the last entry answered. Entries carry the fields the provider's log
tailing reads (see docs/local-service.md "Logging").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.local.errors import ApiError, method_not_found
from airflow_provider_trainjobs.local.filters import FilterError, parse_log_filter
from airflow_provider_trainjobs.local.timestamps import parse_rfc3339_us, rfc3339_us
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


_TOKEN = re.compile(r"(\d{1,18})\.(\d{1,18})")
MAX_JOBS = 1000  # jobs one entries:list may name


@dataclass
class LogClause:
    """One OR-ed group of the filter: a job, its floor, the label/severity terms its rows must pass."""

    job_id: str = ""
    after: int | None = None
    inclusive: bool = False
    wanted: dict[str, str] = field(default_factory=dict)


@dataclass
class LogQuery:
    """What an entries:list request asks for, read from its body."""

    project: str
    clauses: list[LogClause]
    descending: bool = False
    page_size: int = MAX_PAGE_SIZE
    after_key: tuple[int, int] | None = None

    @property
    def job_id(self) -> str:
        return self.clauses[0].job_id


def matches(path: str) -> bool:
    return path == PATH


def entry(project: str, job_id: str | None, row: dict[str, Any]) -> dict[str, Any]:
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
        "resource": {"type": "ml_job", "labels": {"job_id": job_id or row["job_id"], "project_id": project,
                                                   "task_name": row["task_name"]}},
        "jsonPayload": {"message": row["message"]},
    }


def handle(engine: Engine, request: Request) -> tuple[int, Any]:
    if request.method != "POST":
        raise method_not_found(request.method, request.path)
    return 200, list_entries(engine, read_query(request.json()))


def _read_term(query: LogClause, projects: list[str], term: tuple[str, str, str]) -> None:
    name, op, value = term
    if name == "resource.type":
        if op != "=" or value != "ml_job":
            raise ApiError(400, f"filter: only resource.type=\"ml_job\" is served here; got {value!r}")
    elif name == "resource.labels.job_id" and op == "=":
        if query.job_id and query.job_id != value:
            raise ApiError(400, "filter: each OR-ed group must name one resource.labels.job_id; "
                                f"one names both {query.job_id[:80]!r} and {value[:80]!r}")
        query.job_id = value
    elif name == "resource.labels.project_id" and op == "=":
        check_project(value, "filter: resource.labels.project_id")
        projects[:] = [value]
    elif name == "timestamp" and op in (">", ">="):
        try:
            after = parse_rfc3339_us(value)
        except ValueError:
            raise ApiError(400, f"filter: timestamp {value[:80]!r} is not RFC 3339") from None
        if query.after is None or after > query.after or (after == query.after and op == ">"):
            query.after, query.inclusive = after, op == ">="
    elif name in ("labels.task_name", "labels.trial_id", "severity") and op == "=":
        query.wanted[name] = value
    elif name == "severity" and op == ">=":
        if value.upper() not in LEVELS:
            raise ApiError(400, f"filter: severity {value[:40]!r} is not a LogSeverity ({', '.join(LEVELS)})")
        query.wanted["severity>="] = value
    else:
        raise ApiError(400, f"filter: the term {name[:80]}{op}{value[:80]!r} is not supported by the local service")


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
        groups = parse_log_filter(_string(body, "filter"))
    except FilterError as err:
        raise ApiError(400, str(err)) from None
    clauses = []
    for terms in groups:
        clause = LogClause()
        for term in terms:
            _read_term(clause, projects, term)
        if not clause.job_id and clause.after is None:
            raise ApiError(400, 'filter: resource.labels.job_id="<jobId>" or a timestamp>= floor is required by '
                                "the local service (in each OR-ed group)")
        clauses.append(clause)
    if len({c.job_id for c in clauses}) > MAX_JOBS:
        raise ApiError(400, f"filter: names more than {MAX_JOBS} jobs")
    query = LogQuery(project=projects[0] if projects else DEFAULT_PROJECT, clauses=clauses)
    order = (_string(body, "orderBy") or "timestamp asc").strip().lower()
    if order not in _ORDERS:
        raise ApiError(400, f"orderBy: only 'timestamp asc' or 'timestamp desc'; got {order[:80]!r}")
    query.descending = order == "timestamp desc"
    size, token = body.get("pageSize"), body.get("pageToken")
    token = _string(body, "pageToken")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int | str) or
                             not str(size).strip().lstrip("-").isdigit()):
        raise ApiError(400, "pageSize: must be an integer")
    found = _TOKEN.fullmatch(token)
    if token and not found:
        raise ApiError(400, "pageToken: must be a token issued by this service")
    query.page_size = max(1, min(int(size or MAX_PAGE_SIZE), MAX_PAGE_SIZE))
    query.after_key = (int(found[1]), int(found[2])) if found else None
    return query


def _keep(row: dict[str, Any], clause: LogClause) -> bool:
    """True when the row is past the clause's floor and passes every label/severity term of it."""
    if clause.after is not None and (row["ts"] < clause.after or (row["ts"] == clause.after and not clause.inclusive)):
        return False
    return all(
        (key == "labels.task_name" and row["task_name"] == value)
        or (key == "labels.trial_id" and (row["trial_id"] or "") == value)
        or (key == "severity" and row["severity"] == value)
        or (key == "severity>=" and _RANK.get(row["severity"], 0) >= _RANK[value.upper()])
        for key, value in clause.wanted.items()
    )


def _floors(clauses: list[LogClause]) -> dict[str, tuple[int | None, bool]]:
    """Each job's lowest floor over its clauses (None when one clause reads it from the start); a clause
    naming no job (the whole project) makes it one read of the project from the lowest floor of all."""
    floors: dict[str, tuple[int | None, bool]] = {}
    whole = any(not c.job_id for c in clauses)
    for clause in clauses:
        low, job = (clause.after, clause.inclusive), "" if whole else clause.job_id
        if job in floors:
            old = floors[job]
            if old[0] is None or low[0] is None:
                low = (None, False)
            elif old[0] < low[0] or (old[0] == low[0] and old[1]):
                low = old
        floors[job] = low
    return floors


def list_entries(engine: Engine, query: LogQuery) -> dict[str, Any]:
    """One page of entries of every named job; the next page starts past the last entry answered."""
    floors = _floors(query.clauses)
    by_job: dict[str, list[LogClause]] = {}
    for clause in query.clauses:
        by_job.setdefault(clause.job_id, []).append(clause)
    rows: list[dict[str, Any]] = []
    scan = query.after_key
    more = full = False
    while len(rows) < query.page_size and not more:
        batch = engine.store.logs_of_jobs(query.project, floors, after_key=scan, limit=query.page_size + 1,
                                          descending=query.descending)
        for row in batch:
            scan = (row["ts"], row["id"])
            if any(_keep(row, c) for c in (*by_job.get(row["job_id"], ()), *by_job.get("", ()))):
                if len(rows) == query.page_size:
                    more = True
                    break
                rows.append(row)
        full = len(batch) == query.page_size + 1
        if not full:
            break
    more = more or (full and len(rows) == query.page_size)
    result: dict[str, Any] = {"entries": [entry(query.project, None, r) for r in rows]} if rows else {}
    if more:
        result["nextPageToken"] = f"{rows[-1]['ts']}.{rows[-1]['id']}"
    return result
