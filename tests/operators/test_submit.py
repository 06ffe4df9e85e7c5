"""SubmitTrainingJobOperator against the real local service: package, stage, submit, wait, retry, kill, defer."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from google.cloud import storage
from support import (
    RUN_ID,
    TRAINER_MODULE,
    TRAINER_PACKAGE,
    make_context,
    render_and_execute,
    runtime_for,
    wait_for_state,
)

from airflow_provider_trainjobs.hooks.errors import TrainingJobFailed
from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.naming import default_job_id
from airflow_provider_trainjobs.operators import SubmitTrainingJobOperator, TrainingJobLink
from airflow_provider_trainjobs.spec import InvalidJobSpec

pytestmark = pytest.mark.timeout(120)


def submit_op(dag_id: str, backend: str = "ai-platform", **kwargs: Any) -> SubmitTrainingJobOperator:
    """The operator submitting the test trainer (package_path and module_name unless given)."""
    params = {"bucket": kwargs.pop("bucket_param", "")}
    kwargs = {"package_path": str(TRAINER_PACKAGE), "module_name": TRAINER_MODULE, **kwargs}
    with DAG(dag_id, schedule=None, params=params):
        return SubmitTrainingJobOperator(task_id=kwargs.pop("task_id", "train"), poll_interval=0.2,
                                         **runtime_for(backend), **kwargs)


def test_submit_packages_stages_and_returns_the_succeeded_job(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_service: Any, backend: str
) -> None:
    bucket = new_bucket()
    op = submit_op(unique_dag_id, backend,
        bucket_param=bucket.name,
        staging_bucket="gs://{{ params.bucket }}",
        job_dir="gs://{{ params.bucket }}/out/{{ ds_nodash }}",
        user_args=["--x=0.3", "--run={{ ds }}"],
        labels={"team": "ml"},
    )
    context = make_context(op)
    job = render_and_execute(op, context)

    expected_id = default_job_id(unique_dag_id, "train", RUN_ID)
    assert job["jobId"] == expected_id
    assert job["state"] == "SUCCEEDED"
    json.dumps(job)  # the XCom return value must be JSON-serialisable
    ti = context["ti"]
    assert ti.pushed["job_id"] == expected_id
    page_id = job["vertexName"].rsplit("/", 1)[-1] if backend == "vertex" else expected_id
    assert ti.pushed[TrainingJobLink().xcom_key] == (
        f"{local_service.api_endpoint}/console/jobs/{page_id}?project=local-project")
    assert job["labels"]["team"] == "ml"
    assert job["labels"]["airflow_dag_id"] == unique_dag_id
    assert job["labels"]["airflow_task_id"] == "train"
    assert job["labels"]["airflow_run_id"] == "manual__2025-02-01t00-00-00-00-00"
    training_input = job["trainingInput"]
    assert training_input["jobDir"] == f"gs://{bucket.name}/out/20250201"
    assert training_input["args"] == ["--x=0.3", "--run=2025-02-01"]
    assert training_input["region"] == "us-central1"  # from the connection's region extra
    (uri,) = training_input["packageUris"]
    assert uri.startswith(f"gs://{bucket.name}/{expected_id}/") and uri.endswith(".tar.gz")
    assert bucket.get_blob(uri.split("/", 3)[3]) is not None


def test_failed_job_fails_the_task_with_the_trainers_error(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_service: Any, backend: str
) -> None:
    bucket = new_bucket()
    op = submit_op(unique_dag_id, backend, staging_bucket=f"gs://{bucket.name}",
                   user_args=["--fail=labels column missing"])
    with pytest.raises(TrainingJobFailed, match="tiny trainer error: labels column missing"):
        render_and_execute(op, make_context(op))
    job = TrainingJobHook().get_job(default_job_id(unique_dag_id, "train", RUN_ID))
    assert job["state"] == "FAILED"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"scale_tier": "CUSTOM"}, "masterType"),
        ({"job_id": "1_starts_with_a_digit"}, "jobId"),
        ({"max_wait_time": "60s"}, "maxWaitTime"),
        ({"user_args": "--x=1"}, "user_args"),
    ],
)
def test_bad_input_fails_before_anything_is_built_uploaded_or_submitted(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_conn: Any,
    arguments: dict[str, Any], field: str,
) -> None:
    bucket = new_bucket()
    op = submit_op(unique_dag_id, staging_bucket=f"gs://{bucket.name}", **arguments)
    with pytest.raises(AirflowFailException, match=field) as failed:  # no retries: bad input stays bad
        render_and_execute(op, make_context(op))
    assert isinstance(failed.value.__cause__, InvalidJobSpec)
    assert str(failed.value) == str(failed.value.__cause__)  # the one message naming the field and rule
    assert list(bucket.list_blobs()) == []
    assert [j for j in TrainingJobHook().list_jobs() if j["jobId"].startswith(unique_dag_id)] == []


def test_a_retry_reattaches_to_the_job_the_first_try_created(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_service: Any, backend: str
) -> None:
    bucket = new_bucket()
    first = submit_op(unique_dag_id, backend, staging_bucket=f"gs://{bucket.name}", wait_for_completion=False)
    created = render_and_execute(first, make_context(first))
    # The worker "crashed"; the retry is a fresh operator instance for the same run.
    retry = submit_op(unique_dag_id, backend, staging_bucket=f"gs://{bucket.name}")
    final = render_and_execute(retry, make_context(retry))

    assert final["jobId"] == created["jobId"]
    assert final["createTime"] == created["createTime"]
    assert final["state"] == "SUCCEEDED"
    jobs = [j for j in TrainingJobHook().list_jobs() if j["jobId"].startswith(unique_dag_id)]
    assert [j["jobId"] for j in jobs] == [created["jobId"]]
    # the same code staged twice lands on the same object: one package in the bucket (beside the
    # content-addressed copy staging keeps for reuse by later job ids, under _by_sha256/)
    assert len([b for b in bucket.list_blobs() if not b.name.startswith("_by_sha256/")]) == 1


def test_deferrable_submit_defers_with_a_serialisable_trigger_and_completes(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_service: Any, backend: str
) -> None:
    bucket = new_bucket()
    op = submit_op(unique_dag_id, backend, staging_bucket=f"gs://{bucket.name}", deferrable=True)
    context = make_context(op)
    with pytest.raises(TaskDeferred) as deferred:
        render_and_execute(op, context)
    assert deferred.value.method_name == "execute_complete"
    classpath, kwargs = deferred.value.trigger.serialize()
    json.dumps(kwargs)
    assert classpath == "airflow_provider_trainjobs.triggers.training.TrainingJobTrigger"
    trigger_cls = type(deferred.value.trigger)
    revived = trigger_cls(**kwargs)

    async def first_event() -> Any:
        return await anext(aiter(revived.run()))

    event = asyncio.run(first_event())
    job = op.execute_complete(context, event=event.payload)
    assert job["state"] == "SUCCEEDED"
    assert job["jobId"] == context["ti"].pushed["job_id"]


def test_killing_a_waiting_task_cancels_its_job(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_service: Any, backend: str
) -> None:
    bucket = new_bucket()
    op = submit_op(unique_dag_id, backend, staging_bucket=f"gs://{bucket.name}", user_args=["--sleep=60"])
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            render_and_execute(op, make_context(op))
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = err

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    hook = TrainingJobHook()
    job_id = default_job_id(unique_dag_id, "train", RUN_ID)
    deadline = time.monotonic() + 60
    while op._submitted_job_id is None and time.monotonic() < deadline:
        time.sleep(0.1)
    wait_for_state(hook, job_id, {"RUNNING"})

    op.on_kill()  # what the task runner calls when the task is killed
    worker.join(60)
    assert not worker.is_alive()
    assert isinstance(outcome.get("error"), TrainingJobFailed)
    assert wait_for_state(hook, job_id, {"CANCELLED"})["state"] == "CANCELLED"


def test_on_kill_cancels_without_reading_the_connection_again(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_service: Any, backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """on_kill runs in the SIGTERM handler: its fresh hook reuses the settings the task already read instead of
    looking the connection up again (through the supervisor, whose lock the signal may have interrupted)."""
    bucket = new_bucket()
    op = submit_op(unique_dag_id, backend, staging_bucket=f"gs://{bucket.name}", user_args=["--sleep=60"],
                   wait_for_completion=False)
    job = render_and_execute(op, make_context(op))
    lookups: list[str] = []
    real_get_connection = TrainingJobHook.get_connection.__func__  # type: ignore[attr-defined]

    def counting(cls: type, conn_id: str) -> Any:
        lookups.append(conn_id)
        return real_get_connection(cls, conn_id)

    monkeypatch.setattr(TrainingJobHook, "get_connection", classmethod(counting))
    op.on_kill()
    assert lookups == []
    assert wait_for_state(TrainingJobHook(), job["jobId"], {"CANCELLED"})["state"] == "CANCELLED"


def test_killing_a_deferred_task_cancels_its_job(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_service: Any, backend: str
) -> None:
    bucket = new_bucket()
    op = submit_op(unique_dag_id, backend, staging_bucket=f"gs://{bucket.name}", user_args=["--sleep=60"],
                   deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        render_and_execute(op, make_context(op))
    trigger = deferred.value.trigger
    hook = TrainingJobHook()
    job_id = default_job_id(unique_dag_id, "train", RUN_ID)

    async def run_then_kill() -> None:
        waiting = asyncio.create_task(anext(aiter(trigger.run())))
        await asyncio.to_thread(wait_for_state, hook, job_id, {"RUNNING"})
        waiting.cancel()  # the triggerer stops the trigger, then calls on_kill for a killed task
        await trigger.on_kill()

    asyncio.run(run_then_kill())
    assert wait_for_state(hook, job_id, {"CANCELLED"})["state"] == "CANCELLED"


def test_trainer_logs_reach_the_task_log(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_conn: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = new_bucket()
    op = submit_op(unique_dag_id, staging_bucket=f"gs://{bucket.name}", user_args=["--x=0.25"])
    render_and_execute(op, make_context(op))
    task_log = capsys.readouterr().out  # the task logger (structlog) writes the task log to stdout here
    assert "[master-replica-0] tiny trainer started with x=0.25" in task_log
    assert "[master-replica-0] tiny trainer done: accuracy=0.9975" in task_log
    assert task_log.count("tiny trainer started with x=0.25") == 1  # each line once


def test_whitespace_around_templated_ids_and_destinations_is_ignored(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_conn: Any
) -> None:
    bucket = new_bucket()
    op = submit_op(unique_dag_id, bucket_param=bucket.name, staging_bucket=" gs://{{ params.bucket }}\n",
                   job_dir=" gs://{{ params.bucket }}/out ", job_id=f" {unique_dag_id}_{{{{ ds_nodash }}}} ",
                   wait_for_completion=False)
    job = render_and_execute(op, make_context(op))
    assert job["jobId"] == f"{unique_dag_id}_20250201"
    assert job["trainingInput"]["jobDir"] == f"gs://{bucket.name}/out"
    (uri,) = job["trainingInput"]["packageUris"]
    assert uri.startswith(f"gs://{bucket.name}/{unique_dag_id}_20250201/")
