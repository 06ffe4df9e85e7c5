"""The one waiting state machine: is a job done, did it succeed, has it passed a deadline it carries.

Pure (no I/O, no clock of its own): the sync wait loop, the trigger and the sensor all call
:func:`evaluate` with a job in the neutral ``ml`` v1 view and the current time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SUCCEEDED = "SUCCEEDED"
FAILED_STATES = frozenset({"FAILED", "CANCELLED"})
TERMINAL_STATES = FAILED_STATES | {SUCCEEDED}
WAITING_STATES = frozenset({"QUEUED", "PREPARING"})
DEFAULT_MAX_RUNNING_TIME = 604800.0  # 7 days, the service default for scheduling.maxRunningTime


@dataclass(frozen=True)
class WaitStatus:
    """Verdict on one observation of a job; ``deadline`` names the limit passed (else None).

    ``by_service`` is True when the service itself already cancelled the job for that limit (nothing
    left to cancel); False when the waiter saw the limit pass and must cancel the job itself.
    """

    done: bool
    success: bool
    message: str
    deadline: str | None = None
    by_service: bool = False


# How a service says it cancelled a job for one of its scheduling limits. The field names come
# first (the local service's "Job exceeded scheduling.maxRunningTime (60s) while RUNNING; ...",
# Vertex's scheduling.timeout); the phrases cover services that describe the limit in words.
_SERVICE_LIMITS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("maxWaitTime", re.compile(r"maxWaitTime|max(imum)?[ _]wait[ _]time|\bwait(ing)? time\b|"
                               r"queued (for )?longer than|maxWaitDuration", re.IGNORECASE)),
    ("maxRunningTime", re.compile(r"maxRunningTime|scheduling\.timeout|max(imum)?[ _]running[ _]time|"
                                  r"\brunning time\b|\bran (for )?longer than|exceeded (its |the )?(job )?timeout",
                                  re.IGNORECASE)),
)


def service_deadline(job: dict[str, Any]) -> str | None:
    """The limit (``maxWaitTime``/``maxRunningTime``) a CANCELLED job's errorMessage says the service
    enforced, else None (a user's cancel, or any other end)."""
    if job.get("state") != "CANCELLED":
        return None
    message = str(job.get("errorMessage") or "")
    for limit, pattern in _SERVICE_LIMITS:
        if pattern.search(message):
            return limit
    return None


@dataclass(frozen=True)
class Deadline:
    """The limit that bounds the job in its current state and when it passes (grace not included)."""

    limit: str  # "maxWaitTime" | "maxRunningTime"
    seconds: float
    since: datetime
    at: datetime


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (any fraction length, ``Z`` or an offset) to an aware datetime."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    head, dot, rest = value.partition(".")
    if dot:
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        tail = rest[len(digits) :]
        value = f"{head}.{(digits + '000000')[:6]}{tail}"
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _seconds(value: Any, field: str) -> float:
    from airflow_provider_trainjobs.spec import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as err:
        raise ValueError(f"trainingInput.scheduling.{field}: {err}") from None
    return float(seconds.total_seconds() if isinstance(seconds, timedelta) else seconds)


def deadline_for(job: dict[str, Any]) -> Deadline | None:
    """The deadline in force for the job's current state, from ``trainingInput.scheduling``.

    ``maxWaitTime`` counts from createTime while QUEUED/PREPARING (no default); ``maxRunningTime``
    (default 7 days) counts from startTime once it has started. Terminal jobs have none.
    """
    state = job.get("state") or "STATE_UNSPECIFIED"
    if state in TERMINAL_STATES:
        return None
    scheduling = (job.get("trainingInput") or {}).get("scheduling") or {}
    if state in WAITING_STATES:
        if not (scheduling.get("maxWaitTime") and job.get("createTime")):
            return None
        seconds = _seconds(scheduling["maxWaitTime"], "maxWaitTime")
        since = parse_time(job["createTime"])
        return Deadline("maxWaitTime", seconds, since, since + timedelta(seconds=seconds))
    if job.get("startTime"):
        seconds = _seconds(scheduling.get("maxRunningTime") or "604800s", "maxRunningTime")
        since = parse_time(job["startTime"])
        return Deadline("maxRunningTime", seconds, since, since + timedelta(seconds=seconds))
    return None


def evaluate(job: dict[str, Any], now: datetime, *, grace: float) -> WaitStatus:
    """Decide what a waiter does with this observation of ``job`` at ``now``.

    Only SUCCEEDED succeeds; FAILED and CANCELLED fail with the job's errorMessage (a CANCELLED job
    the service stopped for maxWaitTime/maxRunningTime is a deadline, ``by_service``); any other
    state (known or not) keeps waiting unless the state's deadline plus ``grace`` seconds has passed.
    """
    job_id = job.get("jobId", "?")
    state = job.get("state") or "STATE_UNSPECIFIED"
    if state == SUCCEEDED:
        return WaitStatus(True, True, f"job {job_id} SUCCEEDED")
    if state in FAILED_STATES:
        error = job.get("errorMessage") or "no error message"
        enforced = service_deadline(job)
        if enforced is not None:
            return WaitStatus(True, False, f"job {job_id} passed trainingInput.scheduling.{enforced} and the "
                              f"service cancelled it: {error}", enforced, by_service=True)
        return WaitStatus(True, False, f"job {job_id} {state}: {error}")
    deadline = deadline_for(job)
    if deadline is not None and now > deadline.at + timedelta(seconds=grace):
        what = "since it was created" if deadline.limit == "maxWaitTime" else "since it started running"
        return WaitStatus(
            True,
            False,
            f"job {job_id} passed trainingInput.scheduling.{deadline.limit} ({deadline.seconds:g}s "
            f"{what} at {deadline.since.isoformat()}, plus {grace:g}s grace) while {state}",
            deadline.limit,
        )
    return WaitStatus(False, False, f"job {job_id} is {state}")
