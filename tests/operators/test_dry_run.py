"""dry_run=True against the real local service: validate, build and log the body; no object, no job."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import DAG
from google.cloud import storage
from support import TRAINER_MODULE, TRAINER_PACKAGE, make_context, render_and_execute, runtime_for
from support.tuning import GRID

from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError
from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.operators import HyperparameterTuningJobOperator, SubmitTrainingJobOperator
from airflow_provider_trainjobs.spec import InvalidJobSpec

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("operator", [SubmitTrainingJobOperator, HyperparameterTuningJobOperator])
def test_a_dry_run_uploads_and_submits_nothing_and_logs_the_body(
    operator: type[SubmitTrainingJobOperator], new_bucket: Callable[[], storage.Bucket], unique_dag_id: str,
    backend: str, capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = new_bucket()
    with DAG(unique_dag_id, schedule=None):
        op = operator(task_id="train", package_path=str(TRAINER_PACKAGE), module_name=TRAINER_MODULE,
                      staging_bucket=f"gs://{bucket.name}", user_args=["--x=0.3"], hyperparameters=GRID,
                      dry_run=True, **runtime_for(backend))
    context = make_context(op)
    body = render_and_execute(op, context)

    assert body["trainingInput"]["args"] == ["--x=0.3"]
    assert body["trainingInput"]["hyperparameters"]["maxTrials"] == 3
    assert list(bucket.list_blobs()) == []  # nothing was built or uploaded
    with pytest.raises(TrainingJobApiError) as missing:
        TrainingJobHook().get_job(body["jobId"])
    assert missing.value.status == 404
    assert context["ti"].pushed == {}  # no job id, no link, no best trial
    out = capsys.readouterr().out
    assert f"dry run: job {body['jobId']} is valid; nothing was built, uploaded or submitted" in out
    assert json.dumps(body, indent=2, sort_keys=True).splitlines()[1].strip() in out
    assert ("dry run: as a Vertex AI job" in out) == (backend == "vertex")


def test_a_dry_run_still_fails_on_bad_input(unique_dag_id: str, local_conn: Any) -> None:
    with DAG(unique_dag_id, schedule=None):
        op = SubmitTrainingJobOperator(task_id="train", packages=["gs://bkt-1/t.tar.gz"], module_name="trainer.task",
                                       scale_tier="CUSTOM", dry_run=True)
    with pytest.raises(Exception, match="masterType") as failed:
        render_and_execute(op, make_context(op))
    assert isinstance(failed.value.__cause__, InvalidJobSpec)
