"""The MLEngine drop-ins: an old-style DAG's arguments run unchanged against the real local service."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from support import TRAINER_MODULE, make_context, render_and_execute, runtime_for, upload, wait_for_state

from airflow_provider_trainjobs.compat.mlengine import (
    MLEngineStartTrainingJobOperator,
    MLEngineTrainingCancelJobOperator,
    normalize_mlengine_job_id,
)
from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError
from airflow_provider_trainjobs.hooks.training import TrainingJobHook

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize(("given", "sent"), [
    ("census-2025.01", "census_2025_01"),
    ("1st_run", "z_1st_run"),
    ("a--b  c", "a_b_c"),
    ("plain_id", "plain_id"),
])
def test_job_ids_are_normalised_as_the_old_operator_did(given: str, sent: str) -> None:
    assert normalize_mlengine_job_id(given) == sent


def old_style(dag_id: str, backend: str, **kwargs: Any) -> MLEngineStartTrainingJobOperator:
    """The old operator's arguments, as a DAG written for Google's provider passes them."""
    runtime = runtime_for(backend) or {}
    arguments: dict[str, Any] = {
        "task_id": "train", "project_id": "local-project", "region": "us-central1",
        "training_python_module": TRAINER_MODULE, "scale_tier": "BASIC", "labels": {"team": "ml"},
        "runtime_version": runtime.get("runtime_version"), "python_version": runtime.get("python_version"),
        "gcp_conn_id": "google_cloud_default", "cancel_on_kill": True, "deferrable": False, "poll_interval": 0.2,
        **kwargs,
    }
    with DAG(dag_id, schedule=None):
        return MLEngineStartTrainingJobOperator(**arguments)


@pytest.fixture
def unique_dag_id() -> str:
    return f"compat_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def staged_trainer(local_service: Any, trainer_sdist: Path) -> str:
    return upload(local_service.storage_endpoint, trainer_sdist)


def test_an_old_style_submit_runs_and_pushes_the_old_xcoms(
    unique_dag_id: str, backend: str, staged_trainer: str
) -> None:
    name = f"old-style-{uuid.uuid4().hex[:8]}"
    op = old_style(unique_dag_id, backend, job_id=name + "-{{ params.n }}", package_uris=[staged_trainer],
                   training_args=["--x=0.3"], job_dir="gs://trainjobs-tests/out",
                   params={"n": 7})
    context = make_context(op)
    job = render_and_execute(op, context)

    expected_id = normalize_mlengine_job_id(f"{name}-7")
    assert job["jobId"] == expected_id and job["state"] == "SUCCEEDED"
    assert context["ti"].pushed["job_id"] == expected_id
    assert context["ti"].pushed["gcp_metadata"] == {"job_id": expected_id, "project_id": "local-project"}
    training_input = job["trainingInput"]
    assert training_input["packageUris"] == [staged_trainer]
    assert training_input["pythonModule"] == TRAINER_MODULE
    assert training_input["args"] == ["--x=0.3"]
    assert job["labels"]["team"] == "ml"


def test_mode_dry_run_logs_the_request_and_submits_nothing(
    unique_dag_id: str, local_conn: Any, staged_trainer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"dry-{uuid.uuid4().hex[:8]}"
    op = old_style(unique_dag_id, "ai-platform", job_id=name, package_uris=[staged_trainer], mode="DRY_RUN",
                   scale_tier="CUSTOM", master_type="n1-standard-8",
                   master_config={"acceleratorConfig": {"count": "1", "type": "NVIDIA_TESLA_T4"}})
    body = render_and_execute(op, make_context(op))

    job_id = normalize_mlengine_job_id(name)
    assert body["jobId"] == job_id
    assert body["trainingInput"]["masterConfig"]["acceleratorConfig"]["type"] == "NVIDIA_TESLA_T4"
    assert "dry run" in capsys.readouterr().out
    with pytest.raises(TrainingJobApiError) as missing:
        TrainingJobHook().get_job(job_id)
    assert missing.value.status == 404


def test_the_old_cancel_operator_finds_the_job_by_the_same_job_id(
    unique_dag_id: str, backend: str, staged_trainer: str
) -> None:
    name = f"cancel-me-{uuid.uuid4().hex[:8]}"
    start = old_style(unique_dag_id, backend, job_id=name, package_uris=[staged_trainer],
                      training_args=["--sleep=60"], wait_for_completion=False)
    with DAG(f"{unique_dag_id}_c", schedule=None):
        cancel = MLEngineTrainingCancelJobOperator(task_id="cancel", project_id="local-project", job_id=name,
                                                   gcp_conn_id="google_cloud_default", impersonation_chain=None)
    created = render_and_execute(start, make_context(start))
    job = render_and_execute(cancel, make_context(cancel))
    assert job["jobId"] == created["jobId"] == normalize_mlengine_job_id(name)
    assert wait_for_state(TrainingJobHook(), created["jobId"], {"CANCELLED"})["state"] == "CANCELLED"


def test_every_old_argument_is_accepted_when_the_dag_is_parsed() -> None:
    with DAG("old_signature", schedule=None):
        op = MLEngineStartTrainingJobOperator(
            task_id="t", job_id="j", region="r", project_id="p", package_uris=["gs://b/p.tar.gz"],
            training_python_module="m", training_args=["--a"], scale_tier="CUSTOM", master_type="n1-standard-4",
            master_config={"imageUri": "gcr.io/p/i"}, runtime_version="2.11", python_version="3.7",
            job_dir="gs://b/d", service_account="sa@p.iam.gserviceaccount.com", gcp_conn_id="c",
            mode="PRODUCTION", labels={"k": "v"}, impersonation_chain=["a@p.iam.gserviceaccount.com"],
            hyperparameters=None, deferrable=True, cancel_on_kill=False,
        )
    assert {"package_uris", "training_python_module", "training_args", "master_config",
            "impersonation_chain", "job_id"} <= set(op.template_fields)
    assert op.dry_run_only is False and op.deferrable is True and op.cancel_on_kill is False


def test_the_migration_page_dag_runs_in_dry_run_mode(local_conn: Any) -> None:
    import re

    page = (Path(__file__).resolve().parents[2] / "docs" / "migrating-mlengine.md").read_text()
    code = re.findall(r"```python\n(.*?)```", page, flags=re.S)[1]
    namespace: dict[str, Any] = {"__name__": "docs_migrating_mlengine"}
    exec(compile(code, "migrating-mlengine.md", "exec"), namespace)  # noqa: S102 - the page's own example
    train = namespace["train"]
    body = render_and_execute(train, make_context(train))  # mode="DRY_RUN": validated, nothing submitted
    assert body["jobId"] == "census_manual_2025_02_01T00_00_00_00_00"
    assert body["trainingInput"]["masterType"] == "n1-standard-8"
    assert body["trainingInput"]["packageUris"] == ["gs://census-staging/trainer-0.1.tar.gz"]
