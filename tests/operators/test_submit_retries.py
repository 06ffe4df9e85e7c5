"""Which job a try of SubmitTrainingJobOperator submits or attaches to: mapped tasks, retries after a failed or
cancelled job, and a kill while the create request is in flight. All against the real local service."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG
from google.cloud import storage
from support import (
    RUN_ID,
    TRAINER_MODULE,
    TRAINER_PACKAGE,
    make_context,
    poll_until,
    render_and_execute,
    runtime_for,
    set_faults,
    wait_for_state,
)

from airflow_provider_trainjobs.hooks.errors import TrainingJobFailed
from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.naming import default_job_id
from airflow_provider_trainjobs.operators import SubmitTrainingJobOperator

pytestmark = pytest.mark.timeout(120)

FLAKY_PACKAGE = Path(__file__).resolve().parent / "flaky_src" / "flaky"


def flaky_op(dag_id: str, backend: str, bucket: str, *, sleep: float = 0.0, **kwargs: Any
             ) -> SubmitTrainingJobOperator:
    """A task whose job fails the first time it runs and succeeds every later time (see flaky_src)."""
    with DAG(dag_id, schedule=None):
        return SubmitTrainingJobOperator(
            task_id="train", package_path=str(FLAKY_PACKAGE), module_name="flaky.task",
            staging_bucket=f"gs://{bucket}", user_args=[f"--marker=gs://{bucket}/marker", f"--sleep={sleep}"],
            poll_interval=0.2, **runtime_for(backend), **kwargs,
        )


def jobs_of(dag_id: str) -> dict[str, dict[str, Any]]:
    """Every job the service holds for ``dag_id`` (found by the run labels), by job id."""
    return {j["jobId"]: j for j in TrainingJobHook().list_jobs()
            if (j.get("labels") or {}).get("airflow_dag_id") == dag_id}


def test_each_map_index_submits_its_own_job_and_retries_reattach(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_conn: Any
) -> None:
    bucket = new_bucket()
    with DAG(unique_dag_id, schedule=None):
        mapped = SubmitTrainingJobOperator.partial(
            task_id="train", package_path=str(TRAINER_PACKAGE), module_name=TRAINER_MODULE,
            staging_bucket=f"gs://{bucket.name}", poll_interval=0.2,
        ).expand(user_args=[["--x=0.1"], ["--x=0.5"]])

    def run_map_index(index: int) -> dict[str, Any]:
        """What the task runner does for one mapped task instance: unmap while rendering, then execute."""
        context = make_context(mapped)
        context["ti"].map_index = index
        context["dag_run"] = SimpleNamespace(conf={})
        mapped.render_template_fields(context)  # replaces context["task"] with the unmapped operator
        result: dict[str, Any] = context["task"].execute(context)
        assert context["ti"].pushed["job_id"] == result["jobId"]
        return result

    first, second = run_map_index(0), run_map_index(1)
    base = default_job_id(unique_dag_id, "train", RUN_ID)
    assert (first["jobId"], second["jobId"]) == (f"{base}_m0", f"{base}_m1")
    assert first["state"] == second["state"] == "SUCCEEDED"
    assert first["trainingInput"]["args"] == ["--x=0.1"] and second["trainingInput"]["args"] == ["--x=0.5"]
    # a retry of map index 1 attaches to its own job instead of submitting again
    again = run_map_index(1)
    assert again["jobId"] == second["jobId"] and again["createTime"] == second["createTime"]
    assert sorted(jobs_of(unique_dag_id)) == [f"{base}_m0", f"{base}_m1"]


def test_a_retry_after_a_failed_job_submits_exactly_one_new_job(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_service: Any, backend: str
) -> None:
    bucket = new_bucket().name
    base = default_job_id(unique_dag_id, "train", RUN_ID)
    first_try = flaky_op(unique_dag_id, backend, bucket)
    with pytest.raises(TrainingJobFailed, match="first run fails on purpose"):
        render_and_execute(first_try, make_context(first_try))

    # The retry's worker crashes right after the create ...
    retry = flaky_op(unique_dag_id, backend, bucket, wait_for_completion=False)
    created = render_and_execute(retry, make_context(retry))
    assert created["jobId"] == f"{base}_r2"
    # ... and the same try, run again, attaches to that job rather than submitting a third.
    rerun = flaky_op(unique_dag_id, backend, bucket)
    final = render_and_execute(rerun, make_context(rerun))
    assert final["jobId"] == f"{base}_r2" and final["state"] == "SUCCEEDED"
    assert final["createTime"] == created["createTime"]
    # Once it SUCCEEDED, a later try returns it without running anything.
    once_more = flaky_op(unique_dag_id, backend, bucket)
    assert render_and_execute(once_more, make_context(once_more))["createTime"] == created["createTime"]

    jobs = jobs_of(unique_dag_id)
    assert sorted(jobs) == [base, f"{base}_r2"]
    assert jobs[base]["state"] == "FAILED"


def test_clearing_a_task_whose_job_was_cancelled_submits_a_new_job(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_conn: Any
) -> None:
    gcs_bucket = new_bucket()
    bucket = gcs_bucket.name
    base = default_job_id(unique_dag_id, "train", RUN_ID)
    first = flaky_op(unique_dag_id, "ai-platform", bucket, sleep=60, wait_for_completion=False)
    render_and_execute(first, make_context(first))
    hook = TrainingJobHook()
    # the trainer has started its (doomed) first run: cancel it, as a user would before clearing the task
    poll_until(lambda: {"marker": gcs_bucket.get_blob("marker")}, lambda found: found["marker"] is not None,
               limit=60, interval=0.1, what="the first run never wrote its marker")
    hook.cancel_job(base)
    wait_for_state(hook, base, {"CANCELLED"})

    cleared = flaky_op(unique_dag_id, "ai-platform", bucket, sleep=60)
    final = render_and_execute(cleared, make_context(cleared))
    assert final["jobId"] == f"{base}_r2" and final["state"] == "SUCCEEDED"
    assert sorted(jobs_of(unique_dag_id)) == [base, f"{base}_r2"]


def test_resubmit_failed_false_attaches_to_the_failed_job_and_fails(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_conn: Any
) -> None:
    bucket = new_bucket().name
    first = flaky_op(unique_dag_id, "ai-platform", bucket)
    with pytest.raises(TrainingJobFailed):
        render_and_execute(first, make_context(first))
    retry = flaky_op(unique_dag_id, "ai-platform", bucket, resubmit_failed=False)
    with pytest.raises(TrainingJobFailed, match="first run fails on purpose"):
        render_and_execute(retry, make_context(retry))
    assert list(jobs_of(unique_dag_id)) == [default_job_id(unique_dag_id, "train", RUN_ID)]


@pytest.mark.usefixtures("no_faults")
def test_a_kill_while_the_create_is_in_flight_cancels_the_job(
    unique_dag_id: str, local_conn: Any, staged_trainer: str
) -> None:
    with DAG(unique_dag_id, schedule=None):
        op = SubmitTrainingJobOperator(task_id="train", packages=[staged_trainer], module_name=TRAINER_MODULE,
                                       user_args=["--sleep=30"], poll_interval=0.2)
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        try:
            render_and_execute(op, make_context(op))
        except BaseException as err:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = err

    set_faults(local_conn.api_endpoint, latency=1.0)  # every API answer takes a second
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    give_up = time.monotonic() + 60
    while not op._create_in_flight:  # the create request has been started, its answer not received
        assert time.monotonic() < give_up and worker.is_alive(), f"the create never started: {outcome}"
        time.sleep(0.01)
    op.on_kill()  # what the task runner's SIGTERM handler calls
    set_faults(local_conn.api_endpoint, latency=0.0)
    worker.join(60)

    job_id = default_job_id(unique_dag_id, "train", RUN_ID)
    assert wait_for_state(TrainingJobHook(), job_id, {"CANCELLED"})["state"] == "CANCELLED"
    assert isinstance(outcome.get("error"), TrainingJobFailed)
    assert list(jobs_of(unique_dag_id)) == [job_id]


@pytest.mark.usefixtures("no_faults")
def test_an_execution_timeout_during_the_create_still_cancels_the_job(
    unique_dag_id: str, local_conn: Any, staged_trainer: str
) -> None:
    """What the task runner does with ``execution_timeout``: SIGALRM raises AirflowTaskTimeout inside
    execute (here: while the create request is on its way), then it calls on_kill."""
    from airflow.sdk.exceptions import AirflowTaskTimeout
    from airflow.sdk.execution_time.timeout import timeout

    with DAG(unique_dag_id, schedule=None):
        op = SubmitTrainingJobOperator(task_id="train", packages=[staged_trainer], module_name=TRAINER_MODULE,
                                       user_args=["--sleep=30"], poll_interval=0.2)

    def time_out_while_in_flight() -> None:
        give_up = time.monotonic() + 60
        while not op._create_in_flight and time.monotonic() < give_up:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGALRM)  # the execution_timeout alarm goes off now

    set_faults(local_conn.api_endpoint, latency=1.0)
    threading.Thread(target=time_out_while_in_flight, daemon=True).start()
    with pytest.raises(AirflowTaskTimeout):
        try:
            with timeout(600):
                render_and_execute(op, make_context(op))
        except AirflowTaskTimeout:
            op.on_kill()
            raise
    set_faults(local_conn.api_endpoint, latency=0.0)

    job_id = default_job_id(unique_dag_id, "train", RUN_ID)
    assert wait_for_state(TrainingJobHook(), job_id, {"CANCELLED"})["state"] == "CANCELLED"
    assert list(jobs_of(unique_dag_id)) == [job_id]


def test_kill_before_anything_was_submitted_does_nothing(
    unique_dag_id: str, local_conn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with DAG(unique_dag_id, schedule=None):
        op = SubmitTrainingJobOperator(task_id="train", packages=["gs://b-1/x.tar.gz"], module_name="m")
    op.on_kill()
    assert op._hook is None  # nothing submitted: not even a connection was read
    job_id = f"never_created_{uuid.uuid4().hex[:8]}"
    op._submitted_job_id = job_id  # the create was refused before the job existed
    op.on_kill()  # no error: there is nothing to cancel
    assert f"job {job_id} does not exist: nothing to cancel" in capsys.readouterr().out
