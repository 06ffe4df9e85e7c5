"""The scheduling limits the engine enforces: ``maxWaitTime`` (from createTime, while QUEUED/PREPARING)
and ``maxRunningTime`` (from startTime), each multiplied by the service's ``deadline_scale``."""

from __future__ import annotations

from typing import Any

from airflow_provider_trainjobs.local.timestamps import parse_rfc3339
from airflow_provider_trainjobs.spec.durations import parse_duration
from airflow_provider_trainjobs.spec.waiting import DEFAULT_MAX_RUNNING_TIME


def _scheduling(job: dict[str, Any], name: str) -> Any:
    return ((job.get("trainingInput") or {}).get("scheduling") or {}).get(name)


def wait_limit(job: dict[str, Any]) -> float | None:
    """scheduling.maxWaitTime in seconds (None when the job has none)."""
    value = _scheduling(job, "maxWaitTime")
    return None if value in (None, "") else parse_duration(value)


def running_limit(job: dict[str, Any]) -> float:
    """scheduling.maxRunningTime in seconds (the service default of 7 days when the job has none)."""
    value = _scheduling(job, "maxRunningTime")
    return DEFAULT_MAX_RUNNING_TIME if value in (None, "") else parse_duration(value)


def wait_deadline(job: dict[str, Any], scale: float) -> float | None:
    """The UNIX time just after a QUEUED job passes its maxWaitTime (None without one, or unreadable)."""
    try:
        limit = wait_limit(job)
    except ValueError:
        return None
    return None if limit is None else parse_rfc3339(job["createTime"]) + limit * scale + 1e-3


def wait_exceeded(job: dict[str, Any], now: float, state: str, scale: float) -> str | None:
    """The errorMessage of a job waiting (QUEUED/PREPARING) past scheduling.maxWaitTime, else None."""
    limit = wait_limit(job)
    if limit is None or now - parse_rfc3339(job["createTime"]) <= limit * scale:
        return None
    shown = _scheduling(job, "maxWaitTime")
    return f"Job exceeded scheduling.maxWaitTime ({shown}) while {state}; it was cancelled by the service."


def running_exceeded(job: dict[str, Any], now: float, scale: float) -> str | None:
    """The errorMessage of a RUNNING job past scheduling.maxRunningTime (Vertex: timeout), else None."""
    if now - parse_rfc3339(job["startTime"]) <= running_limit(job) * scale:
        return None
    shown = _scheduling(job, "maxRunningTime") or "604800s"
    field = "scheduling.timeout" if job.get("vertex") else "scheduling.maxRunningTime"
    return f"Job exceeded {field} ({shown}) while RUNNING; it was cancelled by the service."
