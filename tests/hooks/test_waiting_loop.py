"""The wait loop's decisions, driven step by step (it is a pure generator: no service needed)."""

from __future__ import annotations

import logging
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError, TrainingJobDeadlineExceeded
from airflow_provider_trainjobs.hooks.retry import RetryPolicy
from airflow_provider_trainjobs.hooks.waiting import (
    Cancel,
    FetchLogs,
    Poll,
    Sleep,
    Step,
    WaitState,
    wait_steps,
)

NOW = datetime(2024, 5, 1, 13, 0, tzinfo=UTC)
RUNNING_LATE = {"jobId": "j", "state": "RUNNING", "startTime": "2024-05-01T12:00:00Z",
                "trainingInput": {"scheduling": {"maxRunningTime": "60s"}}}


def steps(state: WaitState, **kwargs: Any) -> Generator[Step, Any, dict[str, Any]]:
    return wait_steps("j", state, poll_interval=1.0, grace=0.0, cancel_on_deadline=kwargs.pop("cancel", True),
                      retry=RetryPolicy(max_retries=2, initial=0.01, maximum=0.01),
                      log=logging.getLogger("wait-loop-tests"), now=lambda: NOW, **kwargs)


def test_deadline_reports_a_failed_cancel_and_keeps_the_limit() -> None:
    gen = steps(WaitState(stream_logs=False))
    assert isinstance(next(gen), Poll)
    assert isinstance(gen.send(RUNNING_LATE), Cancel)
    with pytest.raises(TrainingJobDeadlineExceeded) as info:
        gen.throw(TrainingJobApiError("cancelling job j failed: HTTP 403: denied", status=403))
    assert info.value.limit == "maxRunningTime" and "cancelling it failed" in str(info.value)


def test_deadline_without_cancel_leaves_the_job_running() -> None:
    gen = steps(WaitState(stream_logs=False), cancel=False)
    next(gen)
    with pytest.raises(TrainingJobDeadlineExceeded, match="left running"):
        gen.send(RUNNING_LATE)


def test_non_transient_poll_error_fails_at_once() -> None:
    gen = steps(WaitState())
    next(gen)
    with pytest.raises(TrainingJobApiError, match="403"):
        gen.throw(TrainingJobApiError("getting job j failed: HTTP 403: denied", status=403))


def test_transient_poll_errors_sleep_then_fail_after_the_limit() -> None:
    gen = steps(WaitState())
    next(gen)
    for _ in range(2):
        assert isinstance(gen.throw(TrainingJobApiError("HTTP 503", status=503, transient=True)), Sleep)
        assert isinstance(next(gen), Poll)
    with pytest.raises(TrainingJobApiError, match="503"):
        gen.throw(TrainingJobApiError("HTTP 503", status=503, transient=True))


def test_a_log_failure_never_fails_the_wait_and_a_permanent_one_stops_tailing() -> None:
    state = WaitState()
    gen = steps(state)
    next(gen)
    running = {"jobId": "j", "state": "RUNNING"}
    assert isinstance(gen.send(running), FetchLogs)
    assert isinstance(gen.throw(TrainingJobApiError("HTTP 503", status=503, transient=True)), Sleep)
    assert state.stream_logs
    assert isinstance(next(gen), Poll)
    assert isinstance(gen.send(running), FetchLogs)
    assert isinstance(gen.throw(TrainingJobApiError("HTTP 403 logging disabled", status=403)), Sleep)
    assert not state.stream_logs
    assert isinstance(next(gen), Poll)
    with pytest.raises(StopIteration) as done:
        gen.send({"jobId": "j", "state": "SUCCEEDED"})
    assert done.value.value["state"] == "SUCCEEDED" and state.last_state == "SUCCEEDED"


def test_tuning_progress_is_logged_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    def tuning(state: str, *trials: dict[str, Any]) -> dict[str, Any]:
        return {"jobId": "j", "state": state,
                "trainingInput": {"hyperparameters": {"maxTrials": 3, "hyperparameterMetricTag": "accuracy"}},
                "trainingOutput": {"isHyperparameterTuningJob": True, "trials": list(trials)}}

    one = {"trialId": "1", "state": "SUCCEEDED", "finalMetric": {"objectiveValue": 0.5}}
    two = {"trialId": "2", "state": "SUCCEEDED", "finalMetric": {"objectiveValue": 0.75}}
    state = WaitState(stream_logs=False)
    gen = steps(state)
    next(gen)
    with caplog.at_level(logging.INFO, logger="wait-loop-tests"):
        for job in (tuning("RUNNING"), tuning("RUNNING", one), tuning("RUNNING", one), tuning("RUNNING", one, two)):
            assert isinstance(gen.send(job), Sleep)
            assert isinstance(next(gen), Poll)
        with pytest.raises(StopIteration):
            gen.send(tuning("SUCCEEDED", one, two))
    progress = [r.getMessage() for r in caplog.records if "trials done" in r.getMessage()]
    assert progress == ["Job j: 0/3 trials done", "Job j: 1/3 trials done, best accuracy=0.5 (trial 1)",
                        "Job j: 2/3 trials done, best accuracy=0.75 (trial 2)"]


def test_consecutive_transient_log_failures_stop_tailing_once_and_a_success_resets_the_count(
        caplog: pytest.LogCaptureFixture) -> None:
    """max_retries=2: one failure, a success (count reset), one failure keep tailing; the second failure in a
    row stops it with one warning, and later polls do not ask for logs again."""
    state = WaitState()
    gen = steps(state)
    next(gen)
    running = {"jobId": "j", "state": "RUNNING"}
    blip = TrainingJobApiError("reading the logs failed: connection error: timed out", transient=True)
    with caplog.at_level(logging.INFO, logger="wait-loop-tests"):
        assert isinstance(gen.send(running), FetchLogs)
        assert isinstance(gen.throw(blip), Sleep) and state.log_failures == 1 and state.stream_logs
        assert isinstance(next(gen), Poll)
        assert isinstance(gen.send(running), FetchLogs)
        assert isinstance(gen.send([]), Sleep) and state.log_failures == 0
        for failures in (1, 2):
            assert isinstance(next(gen), Poll)
            assert isinstance(gen.send(running), FetchLogs)
            assert isinstance(gen.throw(blip), Sleep) and state.log_failures == failures
        assert not state.stream_logs
        for _ in range(3):  # polled on, logs never asked for again
            assert isinstance(next(gen), Poll)
            assert isinstance(gen.send(running), Sleep)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["Not streaming the logs of job j any more: 2 reads failed in a row, the last with: "
                        "reading the logs failed: connection error: timed out"]


def test_every_transition_is_logged_after_the_lines_that_preceded_it(caplog: pytest.LogCaptureFixture) -> None:
    """The service's provisioning line arrives with the poll that sees RUNNING: the line first, then the state."""
    state = WaitState()
    gen = steps(state)
    next(gen)
    provisioning = {"insertId": "1", "timestamp": "2024-05-01T12:59:00Z", "severity": "INFO",
                    "textPayload": "Waiting for job to be provisioned.", "labels": {"task_name": "service"}}
    with caplog.at_level(logging.INFO, logger="wait-loop-tests"):
        assert isinstance(gen.send({"jobId": "j", "state": "RUNNING"}), FetchLogs)
        assert isinstance(gen.send([provisioning]), Sleep)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[-1] == "Job j is RUNNING"
    assert "Waiting for job to be provisioned." in messages[-2]


def test_a_quiet_job_gets_a_heartbeat_with_its_state_elapsed_time_and_limit(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing logged for heartbeat seconds → one line naming the state, the time in it and its limit."""
    from datetime import timedelta

    started = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    clock = iter(started + timedelta(minutes=m) for m in (35, 36, 40, 41, 45))
    running = {"jobId": "j", "state": "RUNNING", "startTime": "2024-05-01T12:00:00Z",
               "trainingInput": {"scheduling": {"maxRunningTime": "7200s"}}}
    gen = wait_steps("j", WaitState(stream_logs=False), poll_interval=1.0, grace=0.0, cancel_on_deadline=True,
                     retry=RetryPolicy(max_retries=2), log=logging.getLogger("wait-loop-tests"),
                     now=lambda: next(clock), heartbeat=300.0)
    next(gen)
    with caplog.at_level(logging.INFO, logger="wait-loop-tests"):
        for _ in range(5):
            assert isinstance(gen.send(running), Sleep)
            assert isinstance(next(gen), Poll)
    assert [r.getMessage() for r in caplog.records] == [
        "Job j is RUNNING", "Job j: RUNNING for 40m of maxRunningTime 2h", "Job j: RUNNING for 45m of maxRunningTime 2h"]


@pytest.mark.parametrize(("job", "line"), [
    ({"state": "QUEUED", "createTime": "2024-05-01T12:50:00Z"}, "QUEUED for 10m, no maxWaitTime"),
    ({"state": "QUEUED", "createTime": "2024-05-01T12:00:00Z",
      "trainingInput": {"scheduling": {"maxWaitTime": "86400s"}}}, "QUEUED for 1h of maxWaitTime 1d"),
    ({"state": "RUNNING", "startTime": "2024-05-01T12:59:15Z"}, "RUNNING for 45s of maxRunningTime 7d"),
    ({"state": "PREPARING"}, "PREPARING, no maxWaitTime in force"),
])
def test_heartbeat_line(job: dict[str, Any], line: str) -> None:
    from airflow_provider_trainjobs.hooks.waiting import heartbeat_line

    assert heartbeat_line(job, NOW) == line


def test_heartbeat_zero_is_off(caplog: pytest.LogCaptureFixture) -> None:
    from datetime import timedelta

    clock = iter(NOW + timedelta(hours=h) for h in range(4))
    gen = wait_steps("j", WaitState(stream_logs=False), poll_interval=1.0, grace=0.0, cancel_on_deadline=True,
                     retry=RetryPolicy(max_retries=2), log=logging.getLogger("wait-loop-tests"),
                     now=lambda: next(clock), heartbeat=0)
    next(gen)
    with caplog.at_level(logging.INFO, logger="wait-loop-tests"):
        for _ in range(3):
            gen.send({"jobId": "j", "state": "QUEUED"})
            next(gen)
    assert [r.getMessage() for r in caplog.records] == ["Job j is QUEUED"]
