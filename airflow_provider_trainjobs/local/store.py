"""SQLite persistence of the local service: job records, state history and log entries.

One connection shared by the service's threads behind a lock; every write commits at once so a
stopped (or killed) service loses nothing it has answered.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    project TEXT NOT NULL,
    job_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    pids TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (project, job_id)
);
CREATE TABLE IF NOT EXISTS history (
    project TEXT NOT NULL,
    job_id TEXT NOT NULL,
    state TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    job_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    severity TEXT NOT NULL,
    task_name TEXT NOT NULL,
    trial_id TEXT,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_job ON logs (project, job_id, ts);
"""


def rfc3339(ts: float) -> str:
    """A UNIX time as the RFC 3339 UTC string Google APIs use (microseconds, ``Z``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_us(micros: int) -> str:
    """Microseconds since the epoch as an exact RFC 3339 string (log timestamps round-trip through filters)."""
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )


def parse_rfc3339_us(text: str) -> int:
    """An RFC 3339 timestamp as integer microseconds since the epoch (exact, no float rounding)."""
    head, dot, rest = text.strip().partition(".")
    digits = ""
    if dot:
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
    whole = round(parse_rfc3339(head + rest))
    fraction = int((digits + "000000")[:6])
    return whole * 1_000_000 + fraction


def parse_rfc3339(text: str) -> float:
    """Parse an RFC 3339 timestamp (any fraction length, ``Z`` or offset) to UNIX time."""
    value = text.strip().replace("Z", "+00:00")
    if "." in value:
        head, _, rest = value.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        value = f"{head}.{(digits + '000000')[:6]}{rest}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class Store:
    """Jobs (as ml v1 Job JSON), their state history and their log lines, in ``<data-dir>/service.db``."""

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._last_log_us = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # jobs -------------------------------------------------------------------------------------
    def insert_job(self, project: str, job: dict[str, Any]) -> bool:
        """Insert a new job; False when the id is taken in that project."""
        with self._lock:
            seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
            try:
                self._db.execute(
                    "INSERT INTO jobs (project, job_id, seq, body) VALUES (?, ?, ?, ?)",
                    (project, job["jobId"], seq, json.dumps(job)),
                )
            except sqlite3.IntegrityError:
                return False
            self._db.execute(
                "INSERT INTO history VALUES (?, ?, ?, ?)", (project, job["jobId"], job["state"], job["createTime"])
            )
            return True

    def save_job(self, project: str, job: dict[str, Any], *, state_changed: bool = False) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET body = ? WHERE project = ? AND job_id = ?", (json.dumps(job), project, job["jobId"])
            )
            if state_changed:
                self._db.execute(
                    "INSERT INTO history VALUES (?, ?, ?, ?)", (project, job["jobId"], job["state"], rfc3339(time.time()))
                )

    def get_job(self, project: str, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM jobs WHERE project = ? AND job_id = ?", (project, job_id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def jobs(self, project: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every job (project, body) in creation order."""
        with self._lock:
            if project is None:
                rows = self._db.execute("SELECT project, body FROM jobs ORDER BY seq").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT project, body FROM jobs WHERE project = ? ORDER BY seq", (project,)
                ).fetchall()
        for proj, body in rows:
            yield proj, json.loads(body)

    def history(self, project: str, job_id: str) -> list[tuple[str, str]]:
        with self._lock:
            return list(
                self._db.execute(
                    "SELECT state, at FROM history WHERE project = ? AND job_id = ? ORDER BY rowid",
                    (project, job_id),
                )
            )

    def set_pids(self, project: str, job_id: str, pids: list[int]) -> None:
        """Remember the trainer process groups so a restarted service can clean up after a crash."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET pids = ? WHERE project = ? AND job_id = ?", (json.dumps(pids), project, job_id)
            )

    def pids(self, project: str, job_id: str) -> list[int]:
        with self._lock:
            row = self._db.execute(
                "SELECT pids FROM jobs WHERE project = ? AND job_id = ?", (project, job_id)
            ).fetchone()
        return list(json.loads(row[0])) if row else []

    # logs -------------------------------------------------------------------------------------
    def add_logs(self, project: str, job_id: str, rows: list[tuple[str, str, str | None, str]]) -> None:
        """Append (severity, task_name, trial_id, message) lines with strictly increasing timestamps."""
        if not rows:
            return
        with self._lock:
            values = []
            for severity, task, trial, message in rows:
                ts = max(time.time_ns() // 1000, self._last_log_us + 1)
                self._last_log_us = ts
                values.append((project, job_id, ts, severity, task, trial, message))
            self._db.executemany(
                "INSERT INTO logs (project, job_id, ts, severity, task_name, trial_id, message)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                values,
            )

    def logs(
        self,
        project: str,
        job_id: str,
        *,
        after: int | None = None,
        after_inclusive: bool = False,
        start_id: int = 0,
        limit: int = 1000,
        descending: bool = False,
    ) -> list[dict[str, Any]]:
        """Log rows of one job ordered by time (``ts`` and ``after`` in microseconds); ``start_id`` is the paging offset."""
        sql = "SELECT id, ts, severity, task_name, trial_id, message FROM logs WHERE project = ? AND job_id = ?"
        args: list[Any] = [project, job_id]
        if after is not None:
            sql += " AND ts >= ?" if after_inclusive else " AND ts > ?"
            args.append(after)
        sql += f" ORDER BY ts {'DESC' if descending else 'ASC'}, id LIMIT ? OFFSET ?"
        args += [limit, start_id]
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [
            {"id": r[0], "ts": r[1], "severity": r[2], "task_name": r[3], "trial_id": r[4], "message": r[5]}
            for r in rows
        ]
