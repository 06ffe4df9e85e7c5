"""impersonation_chain on the operators: templated, handed to every hook, recorded and logged on the local
service (which needs no identity), and the job still runs."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from airflow.sdk import DAG
from google.cloud import storage
from support import TRAINER_MODULE, TRAINER_PACKAGE, make_context, render_and_execute, runtime_for

from airflow_provider_trainjobs.compat.mlengine import MLEngineStartTrainingJobOperator
from airflow_provider_trainjobs.operators import (
    CancelTrainingJobOperator,
    HyperparameterTuningJobOperator,
    PackageTrainingAppOperator,
    SubmitTrainingJobOperator,
)

pytestmark = pytest.mark.timeout(120)
TARGET = "trainer@local-project.iam.gserviceaccount.com"


@pytest.mark.parametrize("operator", [SubmitTrainingJobOperator, HyperparameterTuningJobOperator,
                                      PackageTrainingAppOperator, CancelTrainingJobOperator,
                                      MLEngineStartTrainingJobOperator])
def test_every_operator_templates_impersonation_chain(operator: type) -> None:
    assert "impersonation_chain" in operator.template_fields


def test_a_submit_with_a_templated_chain_runs_on_the_local_service_and_logs_it(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, backend: str, caplog: pytest.LogCaptureFixture,
) -> None:
    bucket = new_bucket()
    with DAG(unique_dag_id, schedule=None, params={"sa": TARGET}):
        op = SubmitTrainingJobOperator(
            task_id="train", package_path=str(TRAINER_PACKAGE), module_name=TRAINER_MODULE,
            staging_bucket=f"gs://{bucket.name}", wait_for_completion=False, **runtime_for(backend),
            impersonation_chain=["delegate@local-project.iam.gserviceaccount.com", "{{ params.sa }}"],
        )
    with caplog.at_level(logging.INFO):
        job = render_and_execute(op, make_context(op))
    assert job["jobId"]
    assert op.hook.settings.impersonation_chain == ("delegate@local-project.iam.gserviceaccount.com", TARGET)
    assert f"impersonation_chain delegate@local-project.iam.gserviceaccount.com -> {TARGET} recorded" in caplog.text


def test_a_deferred_submit_hands_its_chain_to_the_trigger() -> None:
    from airflow.sdk import DAG

    with DAG("imp_trigger", schedule=None):
        op = SubmitTrainingJobOperator(task_id="t", module_name="m", impersonation_chain=[TARGET])
    assert op.make_trigger("j1").serialize()[1]["impersonation_chain"] == [TARGET]
