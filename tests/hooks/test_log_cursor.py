"""The log cursor: each entry printed once across polls, late entries within the window, restarts,
bounded size, serialisation, formatting."""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow_provider_trainjobs.hooks.logs import MAX_SEEN, LogCursor, entry_level, format_entry, log_filter


def entry(insert_id: str, ts: str, message: str = "m", **labels: str) -> dict[str, Any]:
    return {"insertId": insert_id, "timestamp": ts, "jsonPayload": {"message": message},
            "labels": {"task_name": "master-replica-0", **labels}}


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["insertId"] for e in entries]


def test_advance_returns_each_entry_once_across_polls() -> None:
    cursor = LogCursor()
    first = [entry("1", "2024-05-01T12:00:00.000001Z"), entry("2", "2024-05-01T12:00:00.000002Z")]
    assert ids(cursor.advance(first)) == ["1", "2"]
    # The next poll re-reads the window before the newest entry, so it sees "1" and "2" again plus new ones.
    second = [*first, entry("3", "2024-05-01T12:00:00.000002Z"), entry("4", "2024-05-01T12:00:01Z")]
    assert ids(cursor.advance(second)) == ["3", "4"]
    assert cursor.advance(second) == []
    assert cursor.timestamp == "2024-05-01T12:00:01Z"
    assert cursor.floor == "2024-05-01T11:59:59.000000000Z"


def test_a_late_entry_inside_the_window_is_printed_once() -> None:
    """Replica B's line stamped 12:00:09.5 reaches Cloud Logging after replica A's 12:00:10 was printed."""
    cursor = LogCursor(window=2.0)
    assert ids(cursor.advance([entry("a1", "2024-05-01T12:00:10Z")])) == ["a1"]
    late = [entry("b1", "2024-05-01T12:00:09.5Z"), entry("a1", "2024-05-01T12:00:10Z")]
    assert ids(cursor.advance(late)) == ["b1"]
    assert cursor.advance(late) == []
    assert cursor.timestamp == "2024-05-01T12:00:10Z"


def test_an_entry_later_than_the_window_is_not_printed_and_ids_outside_it_are_forgotten() -> None:
    cursor = LogCursor(window=2.0)
    cursor.advance([entry("old", "2024-05-01T12:00:00Z"), entry("new", "2024-05-01T12:00:10Z")])
    assert set(cursor.seen) == {"new"}  # "old" is before the window: never asked for again
    assert cursor.advance([entry("too_late", "2024-05-01T12:00:07.999Z")]) == []
    assert ids(cursor.advance([entry("in_time", "2024-05-01T12:00:08Z")])) == ["in_time"]


def test_the_cursor_stays_bounded_without_repeating() -> None:
    cursor = LogCursor(window=60.0)
    burst = [entry(str(n), f"2024-05-01T12:00:00.{n:06d}Z") for n in range(MAX_SEEN + 50)]
    assert len(cursor.advance(burst)) == MAX_SEEN + 50
    assert len(cursor.seen) == MAX_SEEN
    assert cursor.advance(burst) == []  # the floor rose with the forgotten ids


def test_cursor_round_trips_through_json_and_resumes_without_repeats() -> None:
    cursor = LogCursor(window=3.0)
    cursor.advance([entry("1", "2024-05-01T12:00:00Z"), entry("2", "2024-05-01T12:00:01Z")])
    again = LogCursor.from_dict(json.loads(json.dumps(cursor.to_dict())))
    assert again == cursor
    assert again.advance([entry("1", "2024-05-01T12:00:00Z"), entry("2", "2024-05-01T12:00:01Z")]) == []
    assert LogCursor.from_dict(None) == LogCursor()


def test_the_older_cursor_form_is_read() -> None:
    cursor = LogCursor.from_dict({"timestamp": "2024-05-01T12:00:00Z", "insert_ids": ["7"]})
    assert cursor.floor == "2024-05-01T12:00:00Z"
    assert ids(cursor.advance([entry("7", "2024-05-01T12:00:00Z"), entry("8", "2024-05-01T12:00:00Z")])) == ["8"]


def test_filter_starts_at_the_floor_inclusive() -> None:
    assert log_filter("j1", LogCursor()) == 'resource.type="ml_job" AND resource.labels.job_id="j1"'
    cursor = LogCursor()
    cursor.advance([entry("1", "2024-05-01T12:00:05Z")])
    assert log_filter("j1", cursor).endswith('AND timestamp>="2024-05-01T12:00:03.000000000Z"')


def test_format_names_the_replica_and_trial() -> None:
    assert format_entry(entry("1", "2024-05-01T12:00:00Z", "loss=0.3\n")) == "[master-replica-0] loss=0.3"
    assert format_entry(entry("1", "2024-05-01T12:00:00Z", "hi", trial_id="3")) == "[master-replica-0 trial 3] hi"
    text = {"textPayload": "plain", "labels": {"task_name": "worker-replica-1"}}
    assert format_entry(text) == "[worker-replica-1] plain"


def test_format_reads_the_labels_of_real_ml_job_entries() -> None:
    real = {"textPayload": "accuracy=0.91", "resource": {"type": "ml_job", "labels": {"job_id": "j", "task_name": ""}},
            "labels": {"ml.googleapis.com/task_name": "master-replica-0", "ml.googleapis.com/trial_id": "7"}}
    assert format_entry(real) == "[master-replica-0 trial 7] accuracy=0.91"


def test_severity_maps_to_log_level() -> None:
    assert entry_level({"severity": "ERROR"}) == logging.ERROR
    assert entry_level({"severity": "WARNING"}) == logging.WARNING
    assert entry_level({"severity": "NOTICE"}) == logging.INFO
    assert entry_level({}) == logging.INFO


def test_a_logged_entry_keeps_the_trainers_own_time() -> None:
    """Lines fetched by one poll carry the times they were written at, not the poll's (stdlib record time)."""
    import logging

    from airflow_provider_trainjobs.hooks.logs import log_entry

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("log-entry-time")
    logger.addHandler(Keep())
    logger.setLevel(logging.INFO)
    for second in (1, 2):
        log_entry(logger, {"timestamp": f"2024-05-01T12:00:0{second}.250Z", "textPayload": f"line {second}",
                           "labels": {"task_name": "master-replica-0"}})
    assert [r.getMessage() for r in records] == ["[master-replica-0] line 1", "[master-replica-0] line 2"]
    assert [r.created for r in records] == [1714564801.25, 1714564802.25]
    assert records[0].msecs == 250


def test_a_structlog_logger_gets_the_entry_time_as_its_timestamp(capsys: Any) -> None:
    from airflow_provider_trainjobs.hooks.logs import log_entry
    from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger

    log_entry(TrainingJobTrigger("j").log, {"timestamp": "2024-05-01T12:00:03.5Z", "textPayload": "hi"})
    out = capsys.readouterr().out
    assert "2024-05-01T12:00:03.500000Z" in out and "[service] hi" in out
