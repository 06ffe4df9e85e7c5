"""Issue 10's reproduction through the operator: a list as ``acceleratorConfig.type`` on the Vertex backend
failed the task with TypeError, so Airflow retried it; now it is an InvalidJobSpec, which fails the task
at once, before anything is submitted."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException
from support import make_context, render_and_execute

from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.operators import SubmitTrainingJobOperator
from airflow_provider_trainjobs.spec import InvalidJobSpec

pytestmark = pytest.mark.timeout(120)

IMAGE = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest"


@pytest.mark.parametrize("accelerator_type", [["NVIDIA_L4"], {"NVIDIA_L4": 1}])
def test_a_non_string_accelerator_type_fails_the_task_without_retries(
    local_service: Any, monkeypatch: pytest.MonkeyPatch, accelerator_type: Any
) -> None:
    conn = {"conn_type": "trainjobs", "extra": local_service.conn_extras("vertex")}
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(conn))
    dag_id = f"hostile_{uuid.uuid4().hex[:10]}"
    config = {"trainingInput": {"scaleTier": "CUSTOM", "masterType": "g2-standard-8",
                                "masterConfig": {"acceleratorConfig": {"type": accelerator_type, "count": 1}}}}
    with DAG(dag_id, schedule=None):
        op = SubmitTrainingJobOperator(task_id="train", master_image_uri=IMAGE, config=config,
                                       wait_for_completion=False)
    with pytest.raises(AirflowFailException, match="acceleratorConfig.type: expected a string") as failed:
        render_and_execute(op, make_context(op))
    assert isinstance(failed.value.__cause__, InvalidJobSpec)
    assert [j["jobId"] for j in TrainingJobHook().list_jobs() if j["jobId"].startswith(dag_id)] == []
