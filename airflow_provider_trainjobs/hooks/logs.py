"""Tailing a job's Cloud Logging entries into the Airflow task log, each line exactly once.

``entries.list`` is asked for entries at or after the last timestamp seen; the :class:`LogCursor`
remembers that timestamp and the insertIds already printed at it, so entries sharing a timestamp
are neither lost nor repeated across polls, or across the operator -> trigger -> operator hand-off
(the cursor serialises to a plain dict).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from airflow_provider_trainjobs.spec.waiting import parse_time

_LEVELS = {
    "DEBUG": logging.DEBUG,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
    "ALERT": logging.CRITICAL,
    "EMERGENCY": logging.CRITICAL,
}


def _ts_key(timestamp: str) -> tuple[str, int]:
    """A totally ordered key for an RFC 3339 timestamp with nanosecond precision (UTC)."""
    parsed = parse_time(timestamp)
    fraction = timestamp.partition(".")[2]
    digits = ""
    for char in fraction:
        if not char.isdigit():
            break
        digits += char
    nanos = int((digits + "000000000")[:9])
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), nanos


@dataclass
class LogCursor:
    """Where tailing stopped: the newest timestamp printed and the insertIds printed at exactly it."""

    timestamp: str | None = None
    insert_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (for trigger kwargs and trigger events)."""
        return {"timestamp": self.timestamp, "insert_ids": list(self.insert_ids)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LogCursor:
        """Inverse of :meth:`to_dict`; ``None`` or ``{}`` is the start of the log."""
        data = data or {}
        return cls(timestamp=data.get("timestamp"), insert_ids=list(data.get("insert_ids") or []))

    def advance(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Return the entries not printed yet (in time order) and move the cursor past them."""
        fresh: list[dict[str, Any]] = []
        last_key = _ts_key(self.timestamp) if self.timestamp else None
        seen = set(self.insert_ids)
        for entry in sorted(entries, key=lambda e: _ts_key(e.get("timestamp") or "1970-01-01T00:00:00Z")):
            timestamp = entry.get("timestamp") or "1970-01-01T00:00:00Z"
            key = _ts_key(timestamp)
            insert_id = str(entry.get("insertId") or "")
            if last_key is not None and (key < last_key or (key == last_key and insert_id in seen)):
                continue
            if last_key is None or key > last_key:
                last_key, seen, self.timestamp = key, set(), timestamp
            seen.add(insert_id)
            fresh.append(entry)
        self.insert_ids = sorted(seen)
        return fresh


def log_filter(job_id: str, cursor: LogCursor) -> str:
    """The Cloud Logging filter gcloud's ``stream-logs`` uses, starting at the cursor."""
    parts = ['resource.type="ml_job"', f'resource.labels.job_id="{job_id}"']
    if cursor.timestamp:
        parts.append(f'timestamp>="{cursor.timestamp}"')
    return " AND ".join(parts)


def format_entry(entry: dict[str, Any]) -> str:
    """``[master-replica-0] message`` (``[master-replica-0 trial 3] message`` for a tuning trial)."""
    labels = entry.get("labels") or {}
    resource_labels = (entry.get("resource") or {}).get("labels") or {}
    task = labels.get("task_name") or resource_labels.get("task_name") or "service"
    trial = labels.get("trial_id") or labels.get("trialId")
    payload = entry.get("jsonPayload") or {}
    message = payload.get("message") if isinstance(payload, dict) else None
    if message is None:
        message = entry.get("textPayload", "")
    prefix = f"{task} trial {trial}" if trial else task
    return f"[{prefix}] {str(message).rstrip()}"


def entry_level(entry: dict[str, Any]) -> int:
    """The task-log level for an entry's severity (INFO for everything below WARNING)."""
    return _LEVELS.get(str(entry.get("severity") or "INFO").upper(), logging.INFO)


def list_entries(client: Any, project: str, filter_: str, *, page_size: int = 1000) -> list[dict[str, Any]]:
    """All entries matching ``filter_`` in time order, following ``nextPageToken``."""
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
        entries.extend(response.get("entries") or [])
        token = response.get("nextPageToken")
        if not token:
            return entries
