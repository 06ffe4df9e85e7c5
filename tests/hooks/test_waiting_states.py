"""The waiting state machine: every state, both deadlines, grace, and bad scheduling values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_provider_trainjobs.hooks.waiting import deadline_for, evaluate
from airflow_provider_trainjobs.spec.waiting import parse_time

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def job(state: str, **extra: Any) -> dict[str, Any]:
    return {"jobId": "j1", "state": state, "createTime": "2024-05-01T12:00:00Z", **extra}


def test_only_succeeded_is_success() -> None:
    status = evaluate(job("SUCCEEDED"), T0, grace=0)
    assert (status.done, status.success, status.deadline) == (True, True, None)


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED"])
def test_failed_and_cancelled_fail_with_the_error_message(state: str) -> None:
    status = evaluate(job(state, errorMessage="The replica master 0 exited with a non-zero status of 1."),
                      T0, grace=0)
    assert status.done and not status.success
    assert state in status.message and "non-zero status of 1" in status.message
    assert status.deadline is None


def test_failed_without_error_message_says_so() -> None:
    assert "no error message" in evaluate(job("FAILED"), T0, grace=0).message


@pytest.mark.parametrize("state", ["QUEUED", "PREPARING", "RUNNING", "CANCELLING", "STATE_UNSPECIFIED", "PAUSED"])
def test_other_states_keep_waiting(state: str) -> None:
    status = evaluate(job(state, startTime="2024-05-01T12:00:05Z"), T0 + timedelta(minutes=1), grace=0)
    assert (status.done, status.success) == (False, False)
    assert state in status.message


def test_missing_state_keeps_waiting() -> None:
    assert not evaluate({"jobId": "j"}, T0, grace=0).done


def queued(max_wait: str | None) -> dict[str, Any]:
    scheduling = {"maxWaitTime": max_wait} if max_wait else {}
    return job("QUEUED", trainingInput={"scheduling": scheduling})


def test_max_wait_time_counts_from_create_time_plus_grace() -> None:
    waiting = queued("1800s")
    assert not evaluate(waiting, T0 + timedelta(seconds=1800 + 59), grace=60).done
    status = evaluate(waiting, T0 + timedelta(seconds=1800 + 61), grace=60)
    assert status.done and not status.success
    assert status.deadline == "maxWaitTime"
    assert "maxWaitTime" in status.message and "1800s" in status.message


def test_max_wait_time_has_no_default() -> None:
    assert deadline_for(queued(None)) is None
    assert not evaluate(queued(None), T0 + timedelta(days=30), grace=0).done


def test_max_wait_time_does_not_apply_once_running() -> None:
    running = job("RUNNING", startTime="2024-05-01T12:00:00Z",
                  trainingInput={"scheduling": {"maxWaitTime": "1800s", "maxRunningTime": "7200s"}})
    assert not evaluate(running, T0 + timedelta(seconds=3600), grace=0).done
    status = evaluate(running, T0 + timedelta(seconds=7201), grace=0)
    assert status.deadline == "maxRunningTime"
    assert "maxRunningTime" in status.message and "7200s" in status.message


def test_max_running_time_counts_from_start_time() -> None:
    running = job("RUNNING", startTime="2024-05-01T13:00:00.5Z", trainingInput={"scheduling": {"maxRunningTime": "60s"}})
    assert not evaluate(running, T0 + timedelta(hours=1, seconds=60), grace=0).done
    assert evaluate(running, T0 + timedelta(hours=1, seconds=61), grace=0).deadline == "maxRunningTime"


def test_max_running_time_defaults_to_seven_days() -> None:
    running = job("RUNNING", startTime="2024-05-01T12:00:00Z")
    deadline = deadline_for(running)
    assert deadline is not None and deadline.seconds == 604800
    assert not evaluate(running, T0 + timedelta(days=7), grace=10).done
    assert evaluate(running, T0 + timedelta(days=7, seconds=11), grace=10).deadline == "maxRunningTime"


def test_terminal_states_ignore_deadlines() -> None:
    late = T0 + timedelta(days=365)
    done = job("SUCCEEDED", startTime="2024-05-01T12:00:00Z", trainingInput={"scheduling": {"maxRunningTime": "1s"}})
    assert evaluate(done, late, grace=0).success
    assert deadline_for(done) is None


def test_bad_duration_names_the_field() -> None:
    bad = job("RUNNING", startTime="2024-05-01T12:00:00Z", trainingInput={"scheduling": {"maxRunningTime": "1h"}})
    with pytest.raises(ValueError, match="scheduling.maxRunningTime"):
        evaluate(bad, T0, grace=0)


def test_parse_time_accepts_nanoseconds_and_offsets() -> None:
    assert parse_time("2024-05-01T12:00:00.123456789Z") == T0 + timedelta(microseconds=123456)
    assert parse_time("2024-05-01T14:00:00+02:00") == T0
    assert parse_time("2024-05-01T12:00:00Z") == T0


@pytest.mark.parametrize(
    ("message", "limit"),
    [("Job exceeded scheduling.maxRunningTime (60s) while RUNNING; it was cancelled by the service.", "maxRunningTime"),
     ("Job exceeded scheduling.timeout (60s) while RUNNING; it was cancelled by the service.", "maxRunningTime"),
     ("Job exceeded scheduling.maxWaitTime (1800s) while QUEUED; it was cancelled by the service.", "maxWaitTime"),
     ("The job was cancelled because it exceeded its maximum running time.", "maxRunningTime"),
     ("Job was cancelled: maximum wait time reached before resources were available.", "maxWaitTime")],
)
def test_a_job_the_service_cancelled_for_a_limit_is_a_deadline(message: str, limit: str) -> None:
    status = evaluate(job("CANCELLED", errorMessage=message), T0, grace=0)
    assert (status.done, status.success, status.deadline, status.by_service) == (True, False, limit, True)
    assert f"scheduling.{limit}" in status.message and message in status.message


@pytest.mark.parametrize(
    ("state", "message"),
    [("CANCELLED", "Job cancelled by the user."), ("CANCELLED", None),
     ("FAILED", "Job exceeded scheduling.maxRunningTime (60s)"),
     ("FAILED", "The replica master 0 exited with a non-zero status of 1. TimeoutError: read timed out")],
)
def test_other_ends_are_plain_failures(state: str, message: str | None) -> None:
    extra = {"errorMessage": message} if message else {}
    status = evaluate(job(state, **extra), T0, grace=0)
    assert status.done and not status.success and status.deadline is None and not status.by_service
