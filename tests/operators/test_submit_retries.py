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
    wait_for_file,
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
    unique_dag_id: str, local_conn: Any, staged_trainer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the task runner does with ``execution_timeout``: SIGALRM raises AirflowTaskTimeout inside
    execute (here: while the create request is on its way), then it calls on_kill."""
    import google_auth_httplib2
    from airflow.sdk.exceptions import AirflowTaskTimeout
    from airflow.sdk.execution_time.timeout import timeout

    with DAG(unique_dag_id, schedule=None):
        op = SubmitTrainingJobOperator(task_id="train", packages=[staged_trainer], module_name=TRAINER_MODULE,
                                       user_args=["--sleep=30"], poll_interval=0.2)
    create_sent = threading.Event()
    real_request = google_auth_httplib2.AuthorizedHttp.request

    def request(self: Any, uri: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        if method == "POST" and uri.split("?")[0].endswith("/jobs"):
            create_sent.set()
        return real_request(self, uri, method, *args, **kwargs)

    monkeypatch.setattr(google_auth_httplib2.AuthorizedHttp, "request", request)

    def time_out_while_in_flight() -> None:
        # After the POST went out (the service holds every answer for a second), not merely after the flag
        # was set: an alarm while the client is still being built would leave no job to cancel.
        create_sent.wait(60)
        time.sleep(0.3)
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


def test_a_retry_that_meets_the_previous_job_still_cancelling_waits_and_submits_a_new_one(
    unique_dag_id: str, local_conn: Any, staged_trainer: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The earlier try's job ignores SIGTERM, so it stays CANCELLING until the service's SIGKILL: the retry
    waits for it to settle (CANCELLED) and then submits <id>_r2 instead of attaching to a job that can only fail."""
    pid_file = tmp_path / "stubborn.pid"

    def op(**kwargs: Any) -> SubmitTrainingJobOperator:
        with DAG(unique_dag_id, schedule=None):
            return SubmitTrainingJobOperator(
                task_id="train", packages=[staged_trainer], module_name=TRAINER_MODULE, poll_interval=0.1,
                user_args=["--mode=stubborn", f"--pid-file={pid_file}", "--sleep=60"], **kwargs)

    base = default_job_id(unique_dag_id, "train", RUN_ID)
    first = op(wait_for_completion=False)
    render_and_execute(first, make_context(first))
    wait_for_file(pid_file)  # the trainer is up and ignoring SIGTERM
    retry = op(wait_for_completion=False)
    context = make_context(retry)
    retry.render_template_fields(context)
    body = retry.prepare_job(context)
    capsys.readouterr()
    assert TrainingJobHook().cancel_job(base)["state"] == "CANCELLING"
    job = retry.submit_job(body)
    assert f"job {base} is CANCELLING (an earlier try's job): waiting for it to settle" in capsys.readouterr().out
    assert job["jobId"] == f"{base}_r2"
    jobs = jobs_of(unique_dag_id)
    assert sorted(jobs) == [base, f"{base}_r2"] and jobs[base]["state"] == "CANCELLED"
    TrainingJobHook().cancel_job(f"{base}_r2")


def test_a_job_id_taken_by_a_different_spec_fails_without_retries(
    unique_dag_id: str, local_conn: Any, staged_trainer: str
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    def op(x: str) -> SubmitTrainingJobOperator:
        with DAG(unique_dag_id, schedule=None):
            return SubmitTrainingJobOperator(task_id="train", packages=[staged_trainer], module_name=TRAINER_MODULE,
                                             user_args=[f"--x={x}"], wait_for_completion=False)

    first = op("0.1")
    render_and_execute(first, make_context(first))
    changed = op("0.9")  # the DAG changed, the run id did not: the same job id with another spec
    with pytest.raises(AirflowFailException, match=r"already exists with a different spec \(differs in: "
                                                   r"trainingInput.args\)"):
        render_and_execute(changed, make_context(changed))


def test_suffix_with_resubmit_failed_is_refused_when_the_dag_is_parsed(unique_dag_id: str) -> None:
    with DAG(unique_dag_id, schedule=None):
        with pytest.raises(ValueError, match=r"on_conflict: 'suffix' cannot be combined with resubmit_failed=True"):
            SubmitTrainingJobOperator(task_id="a", packages=["gs://b-1/x.tar.gz"], module_name="m",
                                      on_conflict="suffix")
        op = SubmitTrainingJobOperator(task_id="b", packages=["gs://b-1/x.tar.gz"], module_name="m",
                                       on_conflict="suffix", resubmit_failed=False)
    assert op.on_conflict == "suffix" and not op.resubmit_failed
