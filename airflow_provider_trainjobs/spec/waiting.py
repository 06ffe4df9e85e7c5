"""The job states and scheduling defaults every waiter and the local service agree on, and RFC 3339 times.

Pure vocabulary: how a service says it cancelled a job for a limit is here too. The waiting itself (state machine, deadlines, the wait loop, the trigger's
event) lives in ``hooks/waiting.py``; ``local/`` reads these names from here, below the hooks.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

SUCCEEDED = "SUCCEEDED"
FAILED_STATES = frozenset({"FAILED", "CANCELLED"})
TERMINAL_STATES = FAILED_STATES | {SUCCEEDED}
WAITING_STATES = frozenset({"QUEUED", "PREPARING"})
DEFAULT_MAX_RUNNING_TIME = 604800.0  # 7 days, the service default for scheduling.maxRunningTime


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


def span(seconds: float) -> str:
    """A duration the way people say it, to the minute past the first: ``45s``, ``35m``, ``1h30m``, ``7d``."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if not (days or hours or minutes):
        return f"{secs}s"
    return "".join([f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""])
