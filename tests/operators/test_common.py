"""The trigger event → task outcome rule the operators and the sensor share (operators/_common.py)."""

from __future__ import annotations

import pytest

from airflow_provider_trainjobs.hooks.errors import TrainingJobDeadlineExceeded, TrainingJobFailed
from airflow_provider_trainjobs.operators._common import clean_str, raise_for_event

JOB = {"jobId": "j", "state": "FAILED", "errorMessage": "trainer said: maxRunningTime is too small for my data"}


def test_a_success_event_returns_its_job() -> None:
    assert raise_for_event({"status": "success", "job": {"jobId": "j", "state": "SUCCEEDED"}})["jobId"] == "j"


def test_a_deadline_event_raises_a_deadline_with_its_limit() -> None:
    event = {"status": "deadline", "limit": "maxWaitTime", "job": {**JOB, "state": "CANCELLED"},
             "message": "job j passed maxWaitTime"}
    with pytest.raises(TrainingJobDeadlineExceeded, match="passed maxWaitTime") as failed:
        raise_for_event(event)
    assert failed.value.limit == "maxWaitTime"


def test_a_failure_whose_message_names_a_limit_is_still_a_failure() -> None:
    # Only the event's status decides: the trainer's own words never turn a failure into a deadline.
    with pytest.raises(TrainingJobFailed, match="too small for my data") as failed:
        raise_for_event({"status": "error", "job": JOB, "message": JOB["errorMessage"]})
    assert not isinstance(failed.value, TrainingJobDeadlineExceeded)


def test_no_event_is_a_failure() -> None:
    with pytest.raises(TrainingJobFailed, match="without an event"):
        raise_for_event(None)


@pytest.mark.parametrize(("value", "expected"), [(" gs://b \n", "gs://b"), ("  ", None), (None, None), ("x", "x")])
def test_clean_str(value: str | None, expected: str | None) -> None:
    assert clean_str(value) == expected
