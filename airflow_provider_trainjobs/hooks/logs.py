"""Tailing a job's Cloud Logging entries into the Airflow task log, each line exactly once.

Entries can arrive late: Cloud Logging takes them from many replicas, so an entry may show up in
``entries.list`` after newer ones were already read. Each poll therefore re-reads a small window
(``LogCursor.window``, 2s by default) before the newest timestamp printed, and the
:class:`LogCursor` remembers the insertIds printed inside that window: late entries within the
window are printed once, nothing is printed twice, and the cursor stays small and serialises to a
plain dict (the operator -> trigger -> operator hand-off). An entry arriving later than the window
is not printed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_provider_trainjobs.spec.waiting import parse_time

DEFAULT_WINDOW = 2.0  # seconds re-read before the newest entry printed
MAX_SEEN = 1000  # insertIds kept; past it the window shrinks to the newest MAX_SEEN entries

_LEVELS = {
    "DEBUG": logging.DEBUG,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
    "ALERT": logging.CRITICAL,
    "EMERGENCY": logging.CRITICAL,
}
_EPOCH = "1970-01-01T00:00:00Z"


def _nanos(timestamp: str) -> int:
    """An RFC 3339 timestamp (nanosecond precision, any offset) as integer nanoseconds since the epoch."""
    parsed = parse_time(timestamp).replace(microsecond=0)
    fraction = timestamp.partition(".")[2] if "." in timestamp.partition("T")[2] else ""
    digits = ""
    for char in fraction:
        if not char.isdigit():
            break
        digits += char
    return int(parsed.timestamp()) * 1_000_000_000 + int((digits + "000000000")[:9])


def nanos(timestamp: str) -> int:
    """An RFC 3339 timestamp as integer nanoseconds since the epoch (entries sort by it)."""
    return _nanos(timestamp)


def floor_before(newest: int, window: float) -> str:
    """The RFC 3339 time ``window`` seconds before ``newest`` (nanoseconds): where a re-read starts."""
    return _rfc3339(max(newest - int(window * 1_000_000_000), 0))


def _rfc3339(nanos: int) -> str:
    seconds, fraction = divmod(nanos, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def _key(entry: dict[str, Any]) -> str:
    """What identifies an entry: its insertId (else its timestamp and text)."""
    insert_id = entry.get("insertId")
    if insert_id:
        return str(insert_id)
    payload = entry.get("jsonPayload") or {}
    text = payload.get("message") if isinstance(payload, dict) else None
    return f"{entry.get('timestamp')}|{text if text is not None else entry.get('textPayload', '')}"


@dataclass
class LogCursor:
    """Where tailing stands: the newest timestamp printed, where the next read starts (``floor``, ``window``
    seconds before it), and the insertIds printed since ``floor`` (with their timestamps)."""

    timestamp: str | None = None
    seen: dict[str, str] = field(default_factory=dict)
    floor: str | None = None
    window: float = DEFAULT_WINDOW

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (for trigger kwargs and trigger events)."""
        return {"timestamp": self.timestamp, "floor": self.floor, "seen": dict(self.seen), "window": self.window}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LogCursor:
        """Inverse of :meth:`to_dict`; ``None`` or ``{}`` is the start of the log. The older form
        ``{"timestamp", "insert_ids"}`` (ids printed at exactly ``timestamp``) is read too."""
        data = data or {}
        timestamp = data.get("timestamp")
        seen = {str(k): str(v) for k, v in (data.get("seen") or {}).items()}
        if not seen and timestamp:
            seen = {str(i): timestamp for i in data.get("insert_ids") or []}
        window = data.get("window")
        return cls(timestamp=timestamp, seen=seen, floor=data.get("floor") or timestamp,
                   window=DEFAULT_WINDOW if window is None else float(window))

    def advance(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Return the entries not printed yet (in time order) and move the cursor past them.

        An entry is new when its insertId has not been printed and it is not older than ``floor``
        (entries before it were either printed or arrived too late to be asked for again).
        """
        floor = _nanos(self.floor) if self.floor else None
        newest = _nanos(self.timestamp) if self.timestamp else None
        fresh: list[dict[str, Any]] = []
        for entry in sorted(entries, key=lambda e: _nanos(e.get("timestamp") or _EPOCH)):
            timestamp = entry.get("timestamp") or _EPOCH
            nanos = _nanos(timestamp)
            key = _key(entry)
            if (floor is not None and nanos < floor) or key in self.seen:
                continue
            self.seen[key] = timestamp
            fresh.append(entry)
            if newest is None or nanos > newest:
                newest, self.timestamp = nanos, timestamp
        if newest is not None:
            self._prune(newest)
        return fresh

    def _prune(self, newest: int) -> None:
        """Forget ids older than the window; past ``MAX_SEEN`` ids, raise the floor to keep the newest ones."""
        floor = newest - int(self.window * 1_000_000_000)
        kept = sorted(((_nanos(ts), key) for key, ts in self.seen.items()), reverse=True)
        kept = [(nanos, key) for nanos, key in kept if nanos >= floor]
        if len(kept) > MAX_SEEN:
            floor = kept[MAX_SEEN - 1][0]
            kept = [(nanos, key) for nanos, key in kept if nanos >= floor]
        self.seen = {key: self.seen[key] for _, key in reversed(kept)}
        self.floor = _rfc3339(max(floor, 0))


def log_filter(job_id: str, cursor: LogCursor) -> str:
    """The Cloud Logging filter gcloud's ``stream-logs`` uses, starting at the cursor's floor (the window
    before the newest entry printed)."""
    parts = ['resource.type="ml_job"', f'resource.labels.job_id="{job_id}"']
    if cursor.floor:
        parts.append(f'timestamp>="{cursor.floor}"')
    return " AND ".join(parts)


def batch_log_filter(shared: list[str], floor: str | None, own: dict[str, str | None]) -> str:
    """One Cloud Logging filter for many jobs: the ``shared`` log ids from ``floor`` on, each of ``own`` from
    its own floor (a job still catching up). One id alone gives :func:`log_filter`'s plain AND form."""
    terms = [f'resource.labels.job_id="{log_id}"' for log_id in shared]
    shared_term = (terms[0] if len(terms) == 1 else f"({' OR '.join(terms)})") if terms else ""
    if shared_term and floor:
        shared_term += f' AND timestamp>="{floor}"'
    alone = [f'resource.labels.job_id="{log_id}"' + (f' AND timestamp>="{since}"' if since else "")
             for log_id, since in own.items()]
    groups = ([shared_term] if shared_term else []) + alone
    if len(groups) == 1:
        return f'resource.type="ml_job" AND {groups[0]}'
    return f'resource.type="ml_job" AND ({" OR ".join(f"({g})" for g in groups)})'


def project_log_filter(since: str) -> str:
    """Every job of the project from ``since`` on: one read whatever the number of jobs, for when their ids
    would need more filters than a refresh may send (the caller keeps the entries of its own jobs)."""
    return f'resource.type="ml_job" AND timestamp>="{since}"'


def format_entry(entry: dict[str, Any]) -> str:
    """``[master-replica-0] message`` (``[master-replica-0 trial 3] message`` for a tuning trial)."""
    labels = entry.get("labels") or {}
    resource_labels = (entry.get("resource") or {}).get("labels") or {}
    # Real ml_job entries carry ml.googleapis.com/task_name and ml.googleapis.com/trial_id.
    task = (labels.get("task_name") or labels.get("ml.googleapis.com/task_name")
            or resource_labels.get("task_name") or "service")
    trial = labels.get("trial_id") or labels.get("trialId") or labels.get("ml.googleapis.com/trial_id")
    payload = entry.get("jsonPayload") or {}
    message = payload.get("message") if isinstance(payload, dict) else None
    if message is None:
        message = entry.get("textPayload", "")
    prefix = f"{task} trial {trial}" if trial else task
    return f"[{prefix}] {str(message).rstrip()}"


def log_entry(log: Any, entry: dict[str, Any]) -> None:
    """Write ``format_entry(entry)`` to ``log`` at the entry's level, stamped with the trainer's own time.

    Airflow's structlog loggers take the time as ``timestamp=`` (kept when given); a stdlib logger gets a
    record whose ``created`` is the entry's time. Either way lines fetched together keep the times they
    were written at, not the time of the poll that fetched them.
    """
    level, line = entry_level(entry), format_entry(entry)
    stamp = entry.get("timestamp")
    try:
        nanos = _nanos(str(stamp)) if stamp else None
    except ValueError:
        nanos = None
    if nanos is None:
        log.log(level, "%s", line)
        return
    seconds, fraction = divmod(nanos, 1_000_000_000)
    target = log.logger if isinstance(log, logging.LoggerAdapter) else log
    if isinstance(target, logging.Logger):
        if target.isEnabledFor(level):
            record = target.makeRecord(target.name, level, __file__, 0, "%s", (line,), None)
            record.created = seconds + fraction / 1e9
            record.msecs = fraction // 1_000_000
            target.handle(record)
        return
    when = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    log.log(level, "%s", line, timestamp=f"{when}.{fraction // 1000:06d}Z")


def entry_level(entry: dict[str, Any]) -> int:
    """The task-log level for an entry's severity (INFO for everything below WARNING)."""
    return _LEVELS.get(str(entry.get("severity") or "INFO").upper(), logging.INFO)


def list_entries(client: Any, project: str, filter_: str, *, page_size: int = 1000,
                 on_page: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """All entries matching ``filter_`` in time order, following ``nextPageToken`` (``on_page()`` after each)."""
    entries: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        body: dict[str, Any] = {
            "resourceNames": [f"projects/{project}"],
            "filter": filter_,
            "orderBy": "timestamp asc",
            "pageSize": page_size,
        }
        if token:
            body["pageToken"] = token
        response = client.entries().list(body=body).execute(num_retries=0)
        if on_page is not None:
            on_page()
        entries.extend(response.get("entries") or [])
        token = response.get("nextPageToken")
        if not token:
            return entries
