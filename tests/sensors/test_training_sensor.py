"""TrainingJobSensor on jobs created elsewhere, against the real local service: poke, deferrable, deadline."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, conf
from airflow.sdk.exceptions import AirflowRescheduleException, TaskDeferred
from sensor_helpers import submit_elsewhere
from support import RUN_ID, RecordingTI, wait_for_state

from airflow_provider_trainjobs.hooks.errors import TrainingJobDeadlineExceeded, TrainingJobFailed
from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.operators import TrainingJobLink
from airflow_provider_trainjobs.sensors import TrainingJobSensor

pytestmark = pytest.mark.timeout(120)


def sensor(job_id: str, **kwargs: Any) -> TrainingJobSensor:
    with DAG("sensor_test", schedule=None):
        return TrainingJobSensor(task_id="wait", job_id=job_id, **{"poke_interval": 0.2, **kwargs})


def context() -> dict[str, Any]:
    """The task instance's XCom push recorded (the only stand-in: everything else is the real service)."""
    return {"ti": RecordingTI(), "run_id": RUN_ID}


def test_sensor_waits_for_a_job_submitted_elsewhere(local_service: Any, backend: str, trainer_sdist: Path) -> None:
    job_id = submit_elsewhere(local_service.storage_endpoint, trainer_sdist, args=["--sleep=1"], backend=backend,
                              max_wait_time="3600s", max_running_time="600s")
    task = sensor(job_id, deadline_grace=30)
    ctx = context()
    job = task.execute(ctx)
    assert job["jobId"] == job_id and job["state"] == "SUCCEEDED"
    page_id = job["vertexName"].rsplit("/", 1)[-1] if backend == "vertex" else job_id
    assert ctx["ti"].pushed[TrainingJobLink().xcom_key] == (
        f"{local_service.api_endpoint}/console/jobs/{page_id}?project=local-project")
    assert task.timeout == 3600 + 600 + 30  # timeout left unset: derived from the job's scheduling


def test_sensor_fails_with_the_jobs_error(local_conn: Any, trainer_sdist: Path) -> None:
    job_id = submit_elsewhere(local_conn.storage_endpoint, trainer_sdist, args=["--fail=out of memory"])
    task = sensor(job_id, timeout=300)
    with pytest.raises(TrainingJobFailed, match="tiny trainer error: out of memory"):
        task.execute(context())
    assert task.timeout == 300  # an explicit timeout is kept


def test_deferrable_sensor_defers_then_completes(local_service: Any, backend: str, trainer_sdist: Path) -> None:
    job_id = submit_elsewhere(local_service.storage_endpoint, trainer_sdist, args=["--sleep=2"], backend=backend)
    task = sensor(job_id, deferrable=True)
    ctx = context()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(ctx)
    classpath, kwargs = deferred.value.trigger.serialize()
    json.dumps(kwargs)
    assert kwargs["job_id"] == job_id and kwargs["cancel_on_kill"] is False  # not our job to cancel
    assert deferred.value.timeout is not None

    async def first_event() -> Any:
        return await anext(aiter(deferred.value.trigger.run()))

    event = asyncio.run(first_event())
    job = task.execute_complete(ctx, event=event.payload)
    assert job["state"] == "SUCCEEDED"


def test_sensor_cancels_a_job_past_its_max_running_time(
    lenient_service: Any, trainer_sdist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", lenient_service.conn_json())
    job_id = submit_elsewhere(lenient_service.storage_endpoint, trainer_sdist, args=["--sleep=60"],
                              max_running_time="1s")
    task = sensor(job_id, deadline_grace=0)
    with pytest.raises(TrainingJobDeadlineExceeded, match="maxRunningTime") as failed:
        task.execute(context())
    assert failed.value.limit == "maxRunningTime"
    hook = TrainingJobHook()
    assert hook.get_job(job_id)["state"] in ("CANCELLING", "CANCELLED")


def test_reschedule_mode_frees_the_worker_while_the_job_runs(local_conn: Any, trainer_sdist: Path) -> None:
    job_id = submit_elsewhere(local_conn.storage_endpoint, trainer_sdist, args=["--sleep=60"],
                              max_running_time="900s")
    task = sensor(job_id, mode="reschedule", poke_interval=30, deadline_grace=10)
    try:
        with pytest.raises(AirflowRescheduleException):
            task.execute(context())
        assert task.timeout == conf.getfloat("sensors", "default_timeout") + 900 + 10  # no maxWaitTime on the job
    finally:
        TrainingJobHook().cancel_job(job_id)


def test_poke_mode_logs_tuning_progress_as_it_changes(local_conn: Any, staged_trainer: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from support.tuning import assert_progress_logged, grid_tuning_job

    job_id = f"sensor_tuning_{uuid.uuid4().hex[:10]}"
    TrainingJobHook().create_job(grid_tuning_job("ai-platform", job_id, staged_trainer))
    job = sensor(job_id, poke_interval=0.1).execute(context())
    assert job["state"] == "SUCCEEDED"
    assert_progress_logged(capsys.readouterr().out, job_id)


def test_a_job_the_service_cancelled_for_a_limit_is_a_deadline_and_is_not_cancelled_again(
    local_conn: Any, trainer_sdist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The (strict) local service cancels the job for maxRunningTime itself: the sensor fails naming the limit,
    without claiming to cancel it or sending a cancel for a job that is already CANCELLED."""
    job_id = submit_elsewhere(local_conn.storage_endpoint, trainer_sdist, args=["--sleep=60"],
                              max_running_time="1s")
    wait_for_state(TrainingJobHook(), job_id, {"CANCELLED"})
    task = sensor(job_id, deadline_grace=3600)
    cancels: list[str] = []
    real_cancel = task.hook.cancel_job

    def recording_cancel(job: str, **kwargs: Any) -> dict[str, Any]:
        cancels.append(job)
        return real_cancel(job, **kwargs)

    task.hook.cancel_job = recording_cancel  # type: ignore[method-assign]
    capsys.readouterr()
    with pytest.raises(TrainingJobDeadlineExceeded, match="service cancelled it") as failed:
        task.execute(context())
    assert failed.value.limit == "maxRunningTime"
    assert cancels == [] and "cancelling it" not in capsys.readouterr().out


@pytest.mark.parametrize("deferrable", [False, True], ids=["poke", "deferred"])
def test_a_tuning_jobs_end_pushes_best_trial_and_its_arguments(local_conn: Any, staged_trainer: str,
                                                               deferrable: bool) -> None:
    """wait_for_completion=False plus the sensor gives the downstream task the same XComs as the operator."""
    from support.tuning import grid_tuning_job

    job_id = f"sensor_best_{uuid.uuid4().hex[:10]}"
    TrainingJobHook().create_job(grid_tuning_job("ai-platform", job_id, staged_trainer))
    task, ctx = sensor(job_id, poke_interval=0.1, deferrable=deferrable), context()
    if deferrable:  # right after the create: the first poke sees the job waiting, so the sensor defers
        with pytest.raises(TaskDeferred) as deferred:
            task.execute(ctx)
        (event,) = asyncio.run(_events(deferred.value.trigger))
        job = task.execute_complete(ctx, event.payload)
    else:
        job = task.execute(ctx)
    assert job["state"] == "SUCCEEDED"
    pushed = ctx["ti"].pushed
    assert pushed["best_trial"]["trialId"] == "2" and pushed["best_trial"]["hyperparameters"] == {"x": "0.3"}
    assert pushed["best_trial_args"] == ["--x=0.3"]


async def _events(trigger: Any) -> list[Any]:
    return [event async for event in trigger.run()]


def test_impersonation_chain_is_templated_and_reaches_the_hook_and_the_trigger(local_conn: Any,
                                                                              trainer_sdist: Path) -> None:
    from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger

    target = "trainer@local-project.iam.gserviceaccount.com"
    assert "impersonation_chain" in TrainingJobSensor.template_fields
    job_id = submit_elsewhere(local_conn.storage_endpoint, trainer_sdist, args=["--sleep=5"])
    try:
        task = sensor(job_id, deferrable=True, impersonation_chain=["delegate@local-project.iam.gserviceaccount.com",
                                                                    target])
        with pytest.raises(TaskDeferred) as deferred:
            task.execute(context())
        assert task.hook.settings.impersonation_chain == ("delegate@local-project.iam.gserviceaccount.com", target)
        trigger = deferred.value.trigger
        assert isinstance(trigger, TrainingJobTrigger)
        _, kwargs = trigger.serialize()
        assert json.loads(json.dumps(kwargs))["impersonation_chain"] == [
            "delegate@local-project.iam.gserviceaccount.com", target]
        assert trigger.hook().settings.impersonation_chain[-1] == target
    finally:
        TrainingJobHook().cancel_job(job_id)
