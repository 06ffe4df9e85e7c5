"""TrainingJobTrigger: serialisation round trip, and run()/on_kill() against the real local service."""

from __future__ import annotations

import asyncio
import json
from importlib import import_module
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent
from support import backend_job, set_faults, tiny_job, unique, wait_for_state

from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger


def trigger_for(job_id: str, **kwargs: Any) -> TrainingJobTrigger:
    return TrainingJobTrigger(job_id, poll_interval=0.1, retry_delay=0.01, **kwargs)


async def events_of(trigger: TrainingJobTrigger) -> list[TriggerEvent]:
    return [event async for event in trigger.run()]


def test_serialize_round_trips() -> None:
    trigger = TrainingJobTrigger(
        "job_1", gcp_conn_id="my_conn", project_id="p", backend="vertex", region="europe-west4",
        poll_interval=5, grace=30, cancel_on_deadline=False, cancel_on_kill=False, stream_logs=False,
        log_cursor={"timestamp": "2024-05-01T12:00:00Z", "insert_ids": ["7"]}, log_window=5.0, max_retries=3,
        retry_delay=0.5,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_trainjobs.triggers.training.TrainingJobTrigger"
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(import_module(module), name)(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs["log_cursor"] == {"timestamp": "2024-05-01T12:00:00Z", "insert_ids": ["7"]}
    assert kwargs["backend"] == "vertex" and kwargs["cancel_on_kill"] is False and kwargs["log_window"] == 5.0


@pytest.mark.asyncio
async def test_run_yields_one_success_event_with_the_job(backend: str, staged_trainer: str) -> None:
    package = staged_trainer
    job_id = unique("trig_ok")
    TrainingJobHook().create_job(backend_job(backend, job_id, package, lines=2))
    events = await events_of(trigger_for(job_id, backend=backend))
    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "success" and payload["job_id"] == job_id
    assert payload["job"]["state"] == "SUCCEEDED"
    assert payload["log_cursor"]["timestamp"]
    json.dumps(payload)  # the event must be storable as is


@pytest.mark.asyncio
async def test_run_reports_failure_with_the_error_message(backend: str, staged_trainer: str) -> None:
    package = staged_trainer
    job_id = unique("trig_fail")
    TrainingJobHook().create_job(backend_job(backend, job_id, package, exit_code=2))
    (event,) = await events_of(trigger_for(job_id))
    assert event.payload["status"] == "error"
    assert event.payload["job"]["state"] == "FAILED"
    assert event.payload["job"]["errorMessage"] in event.payload["message"]


@pytest.mark.asyncio
async def test_run_cancels_on_deadline(lenient_conn: tuple[Any, str]) -> None:
    _, package = lenient_conn
    job_id = unique("trig_deadline")
    hook = TrainingJobHook()
    hook.create_job(tiny_job(job_id, package, sleep=60, scheduling={"maxRunningTime": "1s"}))
    (event,) = await events_of(trigger_for(job_id, grace=0))
    assert event.payload["status"] == "deadline" and event.payload["limit"] == "maxRunningTime"
    assert "maxRunningTime" in event.payload["message"]
    assert hook.get_job(job_id)["state"] in ("CANCELLING", "CANCELLED")


@pytest.mark.asyncio
@pytest.mark.usefixtures("no_faults")
async def test_run_tolerates_transient_errors(tiny_package: str, local_conn: Any) -> None:
    job_id = unique("trig_flaky")
    TrainingJobHook().create_job(tiny_job(job_id, tiny_package, lines=1))
    set_faults(local_conn.api_endpoint, codes=[503], fail_next=3)
    (event,) = await events_of(trigger_for(job_id))
    assert event.payload["status"] == "success"


@pytest.mark.asyncio
async def test_unknown_job_is_one_error_event(local_conn: Any) -> None:
    (event,) = await events_of(trigger_for("trig_no_such_job"))
    assert event.payload["status"] == "error" and "404" in event.payload["message"]


@pytest.mark.asyncio
@pytest.mark.parametrize("cancel_on_kill", [True, False])
async def test_on_kill_cancels_the_job_when_asked(backend: str, staged_trainer: str, cancel_on_kill: bool) -> None:
    package = staged_trainer
    job_id = unique("trig_kill")
    hook = TrainingJobHook()
    hook.create_job(backend_job(backend, job_id, package, sleep=60))
    trigger = trigger_for(job_id, cancel_on_kill=cancel_on_kill)
    waiting = asyncio.create_task(events_of(trigger))
    await asyncio.sleep(0.3)
    await trigger.on_kill()
    waiting.cancel()  # the triggerer cancels run() on a kill; it may already have seen CANCELLED
    await asyncio.gather(waiting, return_exceptions=True)
    state = hook.get_job(job_id)["state"]
    if cancel_on_kill:
        assert state in ("CANCELLING", "CANCELLED")
    else:
        assert state not in ("CANCELLING", "CANCELLED")
        hook.cancel_job(job_id)


@pytest.mark.asyncio
async def test_a_job_the_service_cancels_for_a_limit_is_a_deadline_event(backend: str, staged_trainer: str) -> None:
    job_id = unique("trig_svc_deadline")
    TrainingJobHook().create_job(backend_job(backend, job_id, staged_trainer, sleep=60,
                                             scheduling={"maxRunningTime": "1s"}))
    (event,) = await events_of(trigger_for(job_id, grace=3600))
    assert event.payload["status"] == "deadline" and event.payload["limit"] == "maxRunningTime"
    assert event.payload["job"]["state"] == "CANCELLED"


@pytest.mark.asyncio
async def test_every_event_carries_status_and_limit(tiny_package: str) -> None:
    job_id = unique("trig_fields")
    TrainingJobHook().create_job(tiny_job(job_id, tiny_package, lines=0))
    (event,) = await events_of(trigger_for(job_id))
    assert event.payload["status"] == "success" and "limit" in event.payload and event.payload["limit"] is None


def test_on_kill_waits_less_than_the_triggerer_allows() -> None:
    from airflow.configuration import conf

    from airflow_provider_trainjobs.hooks.retry import CANCEL_RETRY_TOTAL
    from airflow_provider_trainjobs.triggers.training import cancel_timeout

    budget = conf.getfloat("triggerer", "on_kill_timeout", fallback=30.0)
    assert CANCEL_RETRY_TOTAL < cancel_timeout() < budget


@pytest.mark.asyncio
async def test_run_logs_trial_progress(backend: str, staged_trainer: str, capsys: pytest.CaptureFixture[str]) -> None:
    from support.tuning import assert_progress_logged, grid_tuning_job

    job_id = unique("progress_trig")
    TrainingJobHook().create_job(grid_tuning_job(backend, job_id, staged_trainer))
    capsys.readouterr()
    (event,) = await events_of(trigger_for(job_id, stream_logs=False))
    assert event.payload["status"] == "success"
    assert_progress_logged(capsys.readouterr().out, job_id)


@pytest.mark.asyncio
async def test_a_triggerer_restart_leaves_the_job_running_and_a_new_trigger_finishes_it(
        backend: str, staged_trainer: str) -> None:
    """A triggerer restart cancels run() without calling on_kill: the job must keep running, and the trigger
    rebuilt from its serialised kwargs (what the next triggerer does) waits it out to SUCCEEDED."""
    job_id = unique("trig_restart")
    hook = TrainingJobHook()
    hook.create_job(backend_job(backend, job_id, staged_trainer, lines=2, sleep=3))
    trigger = trigger_for(job_id)
    waiting = asyncio.create_task(events_of(trigger))
    running = await asyncio.to_thread(lambda: wait_for_state(hook, job_id, {"RUNNING"}))
    assert not waiting.done()
    waiting.cancel()
    assert (await asyncio.gather(waiting, return_exceptions=True))[0].__class__ is asyncio.CancelledError
    assert hook.get_job(job_id)["state"] == running["state"] == "RUNNING"
    classpath, kwargs = trigger.serialize()
    (event,) = await events_of(TrainingJobTrigger(**kwargs))
    assert event.payload["status"] == "success" and event.payload["job"]["state"] == "SUCCEEDED"


@pytest.mark.asyncio
async def test_a_trigger_resumed_after_a_restart_does_not_replay_the_lines_already_printed(
        tiny_package: str, local_conn: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The rebuilt trigger (same trigger row, same kwargs) goes on after the last line the first one printed,
    and says once that it resumed."""
    from airflow_provider_trainjobs.triggers import log_resume

    job_id = unique("trig_resume")
    TrainingJobHook().create_job(tiny_job(job_id, tiny_package, lines=3, sleep=3))
    first = trigger_for(job_id)
    first.trigger_id = 424242
    waiting = asyncio.create_task(events_of(first))
    out = ""
    for _ in range(300):  # until the first trigger printed the trainer's lines (and saved where it stopped)
        out += capsys.readouterr().out
        path = log_resume.cursor_path(first.trigger_id, job_id, None)
        if "tiny line 3 of 3" in out and path is not None and path.exists():
            break
        await asyncio.sleep(0.05)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    _, kwargs = first.serialize()
    second = TrainingJobTrigger(**kwargs)
    second.trigger_id = first.trigger_id
    (event,) = await events_of(second)
    out += capsys.readouterr().out
    assert event.payload["status"] == "success"
    assert [out.count(f"tiny line {n} of 3") for n in (1, 2, 3)] == [1, 1, 1]
    assert out.count(f"Resuming the log lines of job {job_id} after") == 1
    assert not log_resume.cursor_path(first.trigger_id, job_id, None).exists()  # type: ignore[union-attr]


def test_a_cursor_file_that_is_not_a_cursor_is_ignored(tmp_path: Any) -> None:
    from airflow_provider_trainjobs.triggers import log_resume

    path = tmp_path / "c.json"
    for text in ("{not json", "[1, 2]", '{"seen": 3}', "\x00\xff"):
        path.write_text(text, errors="surrogateescape")
        assert log_resume.load(path) is None
    log_resume.save(path, {"timestamp": "2024-05-01T12:00:00Z", "seen": {}})
    assert log_resume.load(path) == {"timestamp": "2024-05-01T12:00:00Z", "seen": {}}
