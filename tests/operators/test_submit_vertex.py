"""SubmitTrainingJobOperator on the Vertex AI backend of the real local service: what Vertex cannot run fails
before any upload, the executor image is the operator's (or the connection's) choice, the job's region is
the one its body names."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException
from google.cloud import storage
from support import RUN_ID, TRAINER_MODULE, TRAINER_PACKAGE, make_context, render_and_execute

from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.naming import default_job_id
from airflow_provider_trainjobs.operators import HyperparameterTuningJobOperator, SubmitTrainingJobOperator
from airflow_provider_trainjobs.spec import InvalidJobSpec

pytestmark = pytest.mark.timeout(120)

IMAGE = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest"


def vertex_conn(local_service: Any, monkeypatch: pytest.MonkeyPatch, **extras: str) -> None:
    """The default connection on the local service's Vertex AI routes, with ``extras`` added."""
    conn = {"conn_type": "trainjobs", "extra": {**local_service.conn_extras("vertex"), **extras}}
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(conn))


def vertex_resource(local_service: Any, name: str) -> dict[str, Any]:
    """The Vertex AI resource as the aiplatform v1 API returns it (the real discovery client)."""
    from google.auth.credentials import AnonymousCredentials
    from googleapiclient.discovery import build

    client = build("aiplatform", "v1", credentials=AnonymousCredentials(),
                   client_options={"api_endpoint": local_service.api_endpoint}, static_discovery=True,
                   cache_discovery=False)
    kind = "hyperparameterTuningJobs" if "/hyperparameterTuningJobs/" in name else "customJobs"
    result: dict[str, Any] = getattr(client.projects().locations(), kind)().get(name=name).execute()
    return result


def our_jobs(dag_id: str, region: str | None = None) -> list[str]:
    return [j["jobId"] for j in TrainingJobHook(region=region).list_jobs() if j["jobId"].startswith(dag_id)]


@pytest.mark.parametrize(
    ("operator", "arguments", "field"),
    [
        (SubmitTrainingJobOperator, {}, "trainingInput.runtimeVersion"),  # no container to run the package in
        (SubmitTrainingJobOperator, {"runtime_version": "2.12"}, "trainingInput.runtimeVersion"),
        (SubmitTrainingJobOperator, {"runtime_version": "2.8", "python_version": "3.7", "scale_tier": "BASIC_TPU"},
         "trainingInput.scaleTier"),
        (HyperparameterTuningJobOperator,
         {"runtime_version": "2.8", "python_version": "3.7", "resume_previous_job_id": "earlier_study",
          "hyperparameters": {"goal": "MAXIMIZE", "hyperparameterMetricTag": "accuracy", "maxTrials": 2,
                              "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 1}]}},
         "trainingInput.hyperparameters.resumePreviousJobId"),
    ],
)
def test_what_vertex_cannot_run_fails_before_anything_is_built_uploaded_or_submitted(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_service: Any,
    monkeypatch: pytest.MonkeyPatch, operator: type[SubmitTrainingJobOperator], arguments: dict[str, Any],
    field: str,
) -> None:
    vertex_conn(local_service, monkeypatch)
    bucket = new_bucket()
    with DAG(unique_dag_id, schedule=None):
        op = operator(task_id="train", package_path=str(TRAINER_PACKAGE), module_name=TRAINER_MODULE,
                      staging_bucket=f"gs://{bucket.name}", poll_interval=0.2, **arguments)
    with pytest.raises(AirflowFailException, match=field) as failed:  # no retries: Vertex will never take it
        render_and_execute(op, make_context(op))
    assert isinstance(failed.value.__cause__, InvalidJobSpec)
    assert list(bucket.list_blobs()) == []
    assert our_jobs(unique_dag_id) == []


def test_executor_image_uri_argument_picks_the_container(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_service: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vertex_conn(local_service, monkeypatch, executor_image_uri="us-docker.pkg.dev/from/the-connection:1")
    bucket = new_bucket()
    with DAG(unique_dag_id, schedule=None, params={"image": IMAGE}):
        op = SubmitTrainingJobOperator(task_id="train", package_path=str(TRAINER_PACKAGE),
                                       module_name=TRAINER_MODULE, staging_bucket=f"gs://{bucket.name}",
                                       executor_image_uri=" {{ params.image }} ", poll_interval=0.2)
    job = render_and_execute(op, make_context(op))  # no runtime_version: the image says what runs the code
    assert job["state"] == "SUCCEEDED"
    resource = vertex_resource(local_service, job["vertexName"])
    assert resource["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]["executorImageUri"] == IMAGE


def test_executor_image_uri_defaults_to_the_connection_extra(
    unique_dag_id: str, local_service: Any, monkeypatch: pytest.MonkeyPatch, staged_trainer: str,
) -> None:
    image = "us-docker.pkg.dev/from/the-connection:1"
    vertex_conn(local_service, monkeypatch, executor_image_uri=image)
    with DAG(unique_dag_id, schedule=None):
        op = SubmitTrainingJobOperator(task_id="train", packages=[staged_trainer], module_name=TRAINER_MODULE,
                                       wait_for_completion=False)
    job = render_and_execute(op, make_context(op))
    resource = vertex_resource(local_service, job["vertexName"])
    assert resource["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]["executorImageUri"] == image


def test_the_region_in_config_is_where_the_vertex_job_runs(
    unique_dag_id: str, local_service: Any, monkeypatch: pytest.MonkeyPatch, staged_trainer: str,
) -> None:
    vertex_conn(local_service, monkeypatch)  # the connection says us-central1
    with DAG(unique_dag_id, schedule=None):
        op = SubmitTrainingJobOperator(
            task_id="train", packages=[staged_trainer], module_name=TRAINER_MODULE, poll_interval=0.2,
            config={"trainingInput": {"region": "europe-west4", "runtimeVersion": "2.8", "pythonVersion": "3.7"}},
        )
    job = render_and_execute(op, make_context(op))
    job_id = default_job_id(unique_dag_id, "train", RUN_ID)
    assert job["jobId"] == job_id and job["state"] == "SUCCEEDED"
    assert job["vertexName"].startswith("projects/local-project/locations/europe-west4/customJobs/")
    assert our_jobs(unique_dag_id, region="europe-west4") == [job_id]
    assert our_jobs(unique_dag_id) == []  # nothing in the connection's region


def test_no_region_anywhere_fails_before_any_upload(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, local_service: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extras = {k: v for k, v in local_service.conn_extras("vertex").items() if k != "region"}
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps({"conn_type": "trainjobs", "extra": extras}))
    bucket = new_bucket()
    with DAG(unique_dag_id, schedule=None):
        op = SubmitTrainingJobOperator(task_id="train", package_path=str(TRAINER_PACKAGE), module_name=TRAINER_MODULE,
                                       staging_bucket=f"gs://{bucket.name}", runtime_version="2.8",
                                       python_version="3.7")
    with pytest.raises(AirflowFailException, match="trainingInput.region: required"):
        render_and_execute(op, make_context(op))
    assert list(bucket.list_blobs()) == []


def test_a_vertex_only_accelerator_passes_validation_on_vertex(
    unique_dag_id: str, local_service: Any, monkeypatch: pytest.MonkeyPatch, staged_trainer: str,
) -> None:
    vertex_conn(local_service, monkeypatch)
    config = {"trainingInput": {"scaleTier": "CUSTOM", "masterType": "g2-standard-8",
                                "masterConfig": {"acceleratorConfig": {"count": "1", "type": "NVIDIA_L4"}}}}
    with DAG(unique_dag_id, schedule=None):
        op = SubmitTrainingJobOperator(task_id="train", packages=[staged_trainer], module_name=TRAINER_MODULE,
                                       runtime_version="2.8", python_version="3.7", config=config)
    context = make_context(op)
    op.render_template_fields(context)
    body = op.prepare_job(context)  # validated for Vertex; nothing submitted
    assert body["trainingInput"]["masterConfig"]["acceleratorConfig"]["type"] == "NVIDIA_L4"
