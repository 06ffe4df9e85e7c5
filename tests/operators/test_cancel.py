"""CancelTrainingJobOperator against the real local service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import DAG
from google.cloud import storage
from support import (
    TRAINER_MODULE,
    TRAINER_PACKAGE,
    make_context,
    render_and_execute,
    runtime_for,
    wait_for_state,
)

from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError
from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.operators import CancelTrainingJobOperator, SubmitTrainingJobOperator

pytestmark = pytest.mark.timeout(120)


def test_cancel_operator_cancels_a_running_job_and_tolerates_a_finished_one(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, backend: str
) -> None:
    bucket = new_bucket()
    with DAG(unique_dag_id, schedule=None):
        submit = SubmitTrainingJobOperator(
            task_id="train", package_path=str(TRAINER_PACKAGE), module_name=TRAINER_MODULE,
            staging_bucket=f"gs://{bucket.name}", user_args=["--sleep=60"], wait_for_completion=False,
            **runtime_for(backend),
        )
        cancel = CancelTrainingJobOperator(task_id="cancel",
                                           job_id="{{ ti.xcom_pull(task_ids='train', key='job_id') }}")
        strict = CancelTrainingJobOperator(task_id="strict", job_id="{{ ti.xcom_pull(task_ids='train', "
                                           "key='job_id') }}", ignore_finished=False)
    store: dict[tuple[str, str], Any] = {}
    created = render_and_execute(submit, make_context(submit, store=store))
    assert created["state"] not in ("SUCCEEDED", "FAILED", "CANCELLED")

    job = render_and_execute(cancel, make_context(cancel, store=store))
    assert job["jobId"] == created["jobId"]
    assert job["state"] in ("CANCELLING", "CANCELLED")
    hook = TrainingJobHook()
    wait_for_state(hook, created["jobId"], {"CANCELLED"})
    assert hook.get_job(created["jobId"])["state"] == "CANCELLED"

    again = render_and_execute(cancel, make_context(cancel, store=store))  # finished: not an error
    assert again["state"] == "CANCELLED"
    with pytest.raises(TrainingJobApiError):
        render_and_execute(strict, make_context(strict, store=store))


def test_cancel_operator_needs_a_job_id(unique_dag_id: str, local_conn: Any) -> None:
    with DAG(unique_dag_id, schedule=None):
        cancel = CancelTrainingJobOperator(task_id="cancel", job_id="")
    with pytest.raises(ValueError, match="job_id"):
        render_and_execute(cancel, make_context(cancel))
