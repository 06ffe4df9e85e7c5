"""The job states and scheduling defaults every waiter and the local service agree on, and RFC 3339 times.

Pure vocabulary with no behaviour: the waiting itself (state machine, deadlines, the wait loop, the trigger's
event) lives in ``hooks/waiting.py``; ``local/`` reads these names from here, below the hooks.
"""

from __future__ import annotations

from datetime import UTC, datetime

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
