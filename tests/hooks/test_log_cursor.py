"""The log cursor: each entry printed once across polls, equal timestamps, serialisation, formatting."""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow_provider_trainjobs.hooks.logs import LogCursor, entry_level, format_entry, log_filter


def entry(insert_id: str, ts: str, message: str = "m", **labels: str) -> dict[str, Any]:
    return {"insertId": insert_id, "timestamp": ts, "jsonPayload": {"message": message},
            "labels": {"task_name": "master-replica-0", **labels}}


def test_advance_returns_each_entry_once_across_polls() -> None:
    cursor = LogCursor()
    first = [entry("1", "2024-05-01T12:00:00.000001Z"), entry("2", "2024-05-01T12:00:00.000002Z")]
    assert [e["insertId"] for e in cursor.advance(first)] == ["1", "2"]
    # The next poll asks from the last timestamp inclusive, so it sees "2" again plus new ones.
    second = [entry("2", "2024-05-01T12:00:00.000002Z"), entry("3", "2024-05-01T12:00:00.000002Z"),
              entry("4", "2024-05-01T12:00:01Z")]
    assert [e["insertId"] for e in cursor.advance(second)] == ["3", "4"]
    assert cursor.advance(second) == []
    assert cursor.timestamp == "2024-05-01T12:00:01Z" and cursor.insert_ids == ["4"]


def test_entries_sharing_a_timestamp_arriving_later_are_not_lost() -> None:
    cursor = LogCursor()
    cursor.advance([entry("a", "2024-05-01T12:00:00.5Z")])
    late = cursor.advance([entry("a", "2024-05-01T12:00:00.5Z"), entry("b", "2024-05-01T12:00:00.500000000Z")])
    assert [e["insertId"] for e in late] == ["b"]
    assert sorted(cursor.insert_ids) == ["a", "b"]


def test_older_entries_are_dropped_and_order_is_by_time() -> None:
    cursor = LogCursor(timestamp="2024-05-01T12:00:05Z", insert_ids=["x"])
    fresh = cursor.advance([entry("new2", "2024-05-01T12:00:07Z"), entry("old", "2024-05-01T12:00:04.999Z"),
                            entry("new1", "2024-05-01T14:00:06+02:00")])
    assert [e["insertId"] for e in fresh] == ["new1", "new2"]


def test_cursor_round_trips_through_json() -> None:
    cursor = LogCursor()
    cursor.advance([entry("1", "2024-05-01T12:00:00Z"), entry("2", "2024-05-01T12:00:00Z")])
    again = LogCursor.from_dict(json.loads(json.dumps(cursor.to_dict())))
    assert again == cursor
    assert again.advance([entry("2", "2024-05-01T12:00:00Z")]) == []
    assert LogCursor.from_dict(None) == LogCursor()


def test_filter_starts_at_the_cursor_inclusive() -> None:
    assert log_filter("j1", LogCursor()) == 'resource.type="ml_job" AND resource.labels.job_id="j1"'
    assert log_filter("j1", LogCursor("2024-05-01T12:00:00Z", ["1"])).endswith(
        'AND timestamp>="2024-05-01T12:00:00Z"')


def test_format_names_the_replica_and_trial() -> None:
    assert format_entry(entry("1", "2024-05-01T12:00:00Z", "loss=0.3\n")) == "[master-replica-0] loss=0.3"
    assert format_entry(entry("1", "2024-05-01T12:00:00Z", "hi", trial_id="3")) == "[master-replica-0 trial 3] hi"
    text = {"textPayload": "plain", "labels": {"task_name": "worker-replica-1"}}
    assert format_entry(text) == "[worker-replica-1] plain"


def test_severity_maps_to_log_level() -> None:
    assert entry_level({"severity": "ERROR"}) == logging.ERROR
    assert entry_level({"severity": "WARNING"}) == logging.WARNING
    assert entry_level({"severity": "NOTICE"}) == logging.INFO
    assert entry_level({}) == logging.INFO
