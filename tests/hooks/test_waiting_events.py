"""The trigger's event and its reverse (hooks/waiting.py): every way a wait ends survives the round trip."""

from __future__ import annotations

import json

import pytest

from airflow_provider_trainjobs.hooks.errors import (
    TrainingJobApiError,
    TrainingJobDeadlineExceeded,
    TrainingJobFailed,
)
from airflow_provider_trainjobs.hooks.logs import LogCursor
from airflow_provider_trainjobs.hooks.waiting import WaitState, event_for, raise_for_event

FAILED = {"jobId": "j", "state": "FAILED", "errorMessage": "The replica master 0 exited with a non-zero status of 1"}
CANCELLED = {"jobId": "j", "state": "CANCELLED", "errorMessage": "cancelled for maxRunningTime"}


def state() -> WaitState:
    return WaitState(cursor=LogCursor(timestamp="2024-05-01T12:00:00Z", seen={"7": "2024-05-01T12:00:00Z"}),
                     job={"jobId": "j", "state": "RUNNING"})


def round_trip(event: dict) -> dict:
    return json.loads(json.dumps(event))  # what the triggerer stores and hands back


def test_success_returns_the_same_job_and_carries_the_cursor() -> None:
    job = {"jobId": "j", "state": "SUCCEEDED"}
    event = round_trip(event_for("j", state(), job))
    assert raise_for_event(event) == job
    assert LogCursor.from_dict(event["log_cursor"]).seen == {"7": "2024-05-01T12:00:00Z"}


@pytest.mark.parametrize(("error", "kind"), [
    (TrainingJobFailed("job j FAILED: " + FAILED["errorMessage"], job=FAILED), TrainingJobFailed),
    (TrainingJobDeadlineExceeded("job j passed maxRunningTime; the job was cancelled", job=CANCELLED,
                                 limit="maxRunningTime"), TrainingJobDeadlineExceeded),
    (TrainingJobDeadlineExceeded("job j passed maxWaitTime", job=CANCELLED, limit="maxWaitTime"),
     TrainingJobDeadlineExceeded),
])
def test_each_failure_comes_back_as_the_same_exception_and_message(error: TrainingJobFailed,
                                                                    kind: type[Exception]) -> None:
    event = round_trip(event_for("j", state(), error=error))
    with pytest.raises(TrainingJobFailed) as raised:
        raise_for_event(event)
    assert type(raised.value) is kind and raised.value.message == error.message and raised.value.job == error.job
    assert getattr(raised.value, "limit", None) == getattr(error, "limit", None)
    assert event["limit"] == getattr(error, "limit", None)


@pytest.mark.parametrize("error", [
    TrainingJobApiError("getting job j failed: HTTP 403 PERMISSION_DENIED: denied", status=403),
    RuntimeError("boom"),
])
def test_any_other_error_is_a_failure_naming_the_wait_and_the_error(error: Exception) -> None:
    event = round_trip(event_for("j", state(), error=error))
    with pytest.raises(TrainingJobFailed) as raised:
        raise_for_event(event)
    assert type(raised.value) is TrainingJobFailed
    assert raised.value.message == f"waiting for job j failed: {error}"
    assert raised.value.job == {"jobId": "j", "state": "RUNNING"}  # the last job the wait saw


def test_no_event_and_an_empty_success_are_failures() -> None:
    with pytest.raises(TrainingJobFailed, match="without an event"):
        raise_for_event(None)
    with pytest.raises(TrainingJobFailed):
        raise_for_event({"status": "success", "job": {}})
