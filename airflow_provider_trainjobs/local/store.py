"""SQLite persistence of the local service: job records, state history and log entries.

One connection shared by the service's threads behind a lock; every write commits at once so a
stopped (or killed) service loses nothing it has answered.
"""

from __future__ import annotations

import heapq
import itertools
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_trainjobs.local.timestamps import rfc3339

DEFAULT_MAX_LOG_ENTRIES = 500_000
DEFAULT_MAX_LOG_BYTES = 100 * 1000 * 1000  # 100 MB of message text
SERVICE_TASK = "service"  # the task_name of the service's own log lines (never capped)
_MARKER_TEXT = "[log truncated: {} lines dropped]"
MARK_EVERY = 1000  # dropped lines between two rewrites of the truncation entry while a job runs
_MARKER = re.compile(r"\[log truncated: (\d+) lines dropped\]")

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
CREATE INDEX IF NOT EXISTS logs_time ON logs (project, ts);
CREATE INDEX IF NOT EXISTS history_job ON history (project, job_id);
CREATE TABLE IF NOT EXISTS job_labels (
    project TEXT NOT NULL,
    job_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (project, job_id, key)
);
CREATE INDEX IF NOT EXISTS job_labels_key ON job_labels (project, key, value);
"""
# Columns a list query filters and orders on, kept beside the JSON body (added to older databases on open).
_JOB_COLUMNS = {"state": "TEXT NOT NULL DEFAULT ''", "kind": "TEXT NOT NULL DEFAULT ''",
                "location": "TEXT NOT NULL DEFAULT ''", "create_time": "TEXT NOT NULL DEFAULT ''"}
_JOB_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS jobs_seq ON jobs (seq);
CREATE INDEX IF NOT EXISTS jobs_list ON jobs (project, kind, location, seq);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
"""


def _columns(job: dict[str, Any]) -> tuple[str, str, str, str]:
    """(state, kind, location, create_time) of a job body: what list queries filter on without decoding it."""
    vertex = job.get("vertex") or {}
    return (str(job.get("state") or ""), str(vertex.get("kind") or ""), str(vertex.get("location") or ""),
            str(job.get("createTime") or ""))


def _labels(job: dict[str, Any]) -> dict[str, str]:
    labels = job.get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


@dataclass(frozen=True)
class LogCap:
    """How much trainer output one job keeps: past either bound its lines are counted, not stored."""

    max_entries: int = DEFAULT_MAX_LOG_ENTRIES
    max_bytes: int = DEFAULT_MAX_LOG_BYTES


@dataclass
class _LogTotal:
    entries: int = 0
    bytes: int = 0
    dropped: int = 0
    marker_id: int | None = None
    marked: int = 0  # the N the truncation entry says now
    marked_at: float = 0.0


class Store:
    """Jobs (as ml v1 Job JSON), their state history and their log lines, in ``<data-dir>/service.db``."""

    def __init__(self, path: str | Path, log_cap: LogCap | None = None) -> None:
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._migrate()
        self._last_log_us = 0
        self.log_cap = log_cap or LogCap()
        self._log_totals: dict[tuple[str, str], _LogTotal] = {}

    def _migrate(self) -> None:
        """Add the list columns to a database written before they existed, filled from the bodies once."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        missing = [name for name in _JOB_COLUMNS if name not in have]
        if missing:
            with self.transaction():
                for name in missing:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {_JOB_COLUMNS[name]}")
                for project, job_id, body in self._db.execute("SELECT project, job_id, body FROM jobs").fetchall():
                    job = json.loads(body)
                    self._db.execute(
                        "UPDATE jobs SET state = ?, kind = ?, location = ?, create_time = ?"
                        " WHERE project = ? AND job_id = ?", (*_columns(job), project, job_id))
                    self._write_labels(project, job_id, _labels(job))
        self._db.executescript(_JOB_INDEXES)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One commit for several writes (nested calls join the outer one)."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # jobs -------------------------------------------------------------------------------------
    def insert_job(self, project: str, job: dict[str, Any]) -> int | None:
        """Insert a new job; its creation sequence number, or None when the id is taken in that project."""
        with self.transaction():
            seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
            try:
                self._db.execute(
                    "INSERT INTO jobs (project, job_id, seq, body, state, kind, location, create_time)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (project, job["jobId"], seq, json.dumps(job), *_columns(job)),
                )
            except sqlite3.IntegrityError:
                return None
            self._write_labels(project, job["jobId"], _labels(job))
            self._db.execute(
                "INSERT INTO history VALUES (?, ?, ?, ?)", (project, job["jobId"], job["state"], job["createTime"])
            )
            return int(seq)

    def save_job(self, project: str, job: dict[str, Any], *, state_changed: bool = False,
                 labels_changed: bool = False) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE jobs SET body = ?, state = ?, kind = ?, location = ?, create_time = ?"
                " WHERE project = ? AND job_id = ?",
                (json.dumps(job), *_columns(job), project, job["jobId"]),
            )
            if labels_changed:
                self._write_labels(project, job["jobId"], _labels(job))
            if state_changed:
                self._db.execute(
                    "INSERT INTO history VALUES (?, ?, ?, ?)", (project, job["jobId"], job["state"], rfc3339(time.time()))
                )

    def _write_labels(self, project: str, job_id: str, labels: dict[str, str]) -> None:
        self._db.execute("DELETE FROM job_labels WHERE project = ? AND job_id = ?", (project, job_id))
        self._db.executemany("INSERT INTO job_labels VALUES (?, ?, ?, ?)",
                             [(project, job_id, key, value) for key, value in labels.items()])

    def get_job(self, project: str, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM jobs WHERE project = ? AND job_id = ?", (project, job_id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def jobs(self, project: str | None = None, states: tuple[str, ...] = ()) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every job (project, body) in creation order; only those in ``states`` when given."""
        sql, args = "SELECT project, body FROM jobs WHERE 1", []
        if project is not None:
            sql, args = sql + " AND project = ?", [project]
        if states:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            args += list(states)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        for proj, body in rows:
            yield proj, json.loads(body)

    def seq_of(self, project: str, job_id: str) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT seq FROM jobs WHERE project = ? AND job_id = ?", (project, job_id)).fetchone()
        return int(row[0]) if row else None

    def page(self, where: str, args: list[Any], *, after_seq: int,
             limit: int) -> list[tuple[int, str, dict[str, Any]]]:
        """(seq, project, body) of up to ``limit`` (-1: all) jobs with seq > ``after_seq`` matching the SQL
        condition ``where`` (built by local/job_pages.py over the indexed columns), in creation order."""
        sql = f"SELECT seq, project, body FROM jobs WHERE seq > ? AND ({where}) ORDER BY seq LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, [after_seq, *args, limit]).fetchall()
        return [(int(seq), project, json.loads(body)) for seq, project, body in rows]

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
        """Append (severity, task_name, trial_id, message) lines with strictly increasing timestamps.

        Trainer lines past the job's LogCap are counted, not stored: the first one dropped stores one
        ``[log truncated: N lines dropped]`` entry whose N is rewritten as more are dropped. The service's
        own lines (task ``service``) are always kept.
        """
        if not rows:
            return
        with self._lock:
            total = self._log_total(project, job_id)
            values = []
            dropped = 0
            for severity, task, trial, message in rows:
                if task != SERVICE_TASK:
                    size = len(message.encode("utf-8", "replace"))
                    if total.dropped or total.entries >= self.log_cap.max_entries or \
                            total.bytes + size > self.log_cap.max_bytes:
                        dropped += 1
                        total.dropped += 1
                        continue
                    total.entries += 1
                    total.bytes += size
                values.append((project, job_id, self._next_ts(), severity, task, trial, message))
            with self.transaction() if dropped else nullcontext():  # one statement commits alone
                self._db.executemany(
                    "INSERT INTO logs (project, job_id, ts, severity, task_name, trial_id, message)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
                if dropped:
                    self._mark_truncated(project, job_id, total)

    def _next_ts(self) -> int:
        ts = max(time.time_ns() // 1000, self._last_log_us + 1)
        self._last_log_us = ts
        return ts

    def _log_total(self, project: str, job_id: str) -> _LogTotal:
        """The job's trainer-log counters: kept in memory while it logs, counted from its rows otherwise
        (first line, or after a restart), so nothing is written for them per line."""
        key = (project, job_id)
        total = self._log_totals.get(key)
        if total is None:
            entries, size = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(message AS BLOB))), 0) FROM logs"
                " WHERE project = ? AND job_id = ? AND task_name != ?", (*key, SERVICE_TASK)).fetchone()
            total = _LogTotal(entries, size)
            marker = self._db.execute(
                "SELECT id, message FROM logs WHERE project = ? AND job_id = ? AND task_name = ?"
                " AND message LIKE '[log truncated: %' ORDER BY id DESC LIMIT 1", (*key, SERVICE_TASK)).fetchone()
            if marker and (found := _MARKER.fullmatch(marker[1])):
                total.marker_id, total.dropped = int(marker[0]), int(found[1])
                total.marked = total.dropped
            self._log_totals[key] = total
        return total

    def _mark_truncated(self, project: str, job_id: str, total: _LogTotal, *, now: bool = False) -> None:
        """Write the truncation entry's N: at once the first time, then at most every second or every
        MARK_EVERY dropped lines while lines keep coming (a flood of dropped lines costs no write each),
        and when the job ends (``now``)."""
        message = _MARKER_TEXT.format(total.dropped)
        if total.marker_id is None:
            cursor = self._db.execute(
                "INSERT INTO logs (project, job_id, ts, severity, task_name, trial_id, message)"
                " VALUES (?, ?, ?, 'WARNING', ?, NULL, ?)", (project, job_id, self._next_ts(), SERVICE_TASK, message))
            total.marker_id = cursor.lastrowid
        elif total.dropped != total.marked and (now or total.dropped - total.marked >= MARK_EVERY
                                                or time.monotonic() - total.marked_at >= 1.0):
            self._db.execute("UPDATE logs SET message = ? WHERE id = ?", (message, total.marker_id))
        else:
            return
        total.marked, total.marked_at = total.dropped, time.monotonic()

    def end_logs(self, project: str, job_id: str) -> None:
        """A job ended: write its final truncation count and drop its in-memory counters (a straggling
        line counts the job's rows again)."""
        with self._lock:
            total = self._log_totals.pop((project, job_id), None)
            if total is not None and total.marker_id is not None:
                self._mark_truncated(project, job_id, total, now=True)

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

    def logs_of_jobs(self, project: str, floors: dict[str, tuple[int | None, bool]], *,
                     after_key: tuple[int, int] | None = None, limit: int = 1000,
                     descending: bool = False) -> list[dict[str, Any]]:
        """Up to ``limit`` log rows of several jobs merged in (ts, id) order, each job from its floor
        (``floors[job] = (after_us, inclusive)``; job ``""`` is all of the project's) and past ``after_key`` (the
        last row of the previous page): one indexed range read per job, so a page costs jobs x limit rows at
        most, whatever the logs' size."""
        keyed: list[list[Any]] = []
        with self._lock:
            for job_id, (after, inclusive) in floors.items():  # job "" is every job of the project
                sql = "SELECT id, ts, severity, task_name, trial_id, message, job_id FROM logs WHERE project = ?" \
                      + (" AND job_id = ?" if job_id else "")
                args: list[Any] = [project, job_id] if job_id else [project]
                if after is not None:
                    sql, args = sql + (" AND ts >= ?" if inclusive else " AND ts > ?"), [*args, after]
                if after_key is not None:
                    sql += " AND (ts < ? OR (ts = ? AND id < ?))" if descending else " AND (ts > ? OR (ts = ? AND id > ?))"
                    args += [after_key[0], after_key[0], after_key[1]]
                order = "DESC" if descending else "ASC"
                sql += f" ORDER BY ts {order}, id {order} LIMIT ?"
                keyed.append(self._db.execute(sql, [*args, limit]).fetchall())
        merged = heapq.merge(*keyed, key=lambda r: (r[1], r[0]), reverse=descending)
        return [{"id": r[0], "ts": r[1], "severity": r[2], "task_name": r[3], "trial_id": r[4], "message": r[5],
                 "job_id": r[6]} for r in itertools.islice(merged, limit)]
