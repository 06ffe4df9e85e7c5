"""The "Training Job" extra link: what the serialized DAG tells the UI, and the URL the task stores for it."""

from __future__ import annotations

import pytest
from airflow.sdk import DAG
from airflow.serialization.serialized_objects import OperatorSerialization

from airflow_provider_trainjobs.operators import (
    CancelTrainingJobOperator,
    HyperparameterTuningJobOperator,
    SubmitTrainingJobOperator,
    TrainingJobLink,
)
from airflow_provider_trainjobs.sensors import TrainingJobSensor


@pytest.mark.parametrize(
    "make",
    [
        lambda: SubmitTrainingJobOperator(task_id="t", module_name="m"),
        lambda: HyperparameterTuningJobOperator(task_id="t", module_name="m"),
        lambda: CancelTrainingJobOperator(task_id="t", job_id="j"),
        lambda: TrainingJobSensor(task_id="t", job_id="j"),
    ],
)
def test_serialized_task_points_the_ui_at_the_link_xcom(make: object) -> None:
    with DAG("links", schedule=None):
        op = make()  # type: ignore[operator]
    serialized = OperatorSerialization.serialize_operator(op)
    # The API server reads the URL from XCom under this key; the task pushes it when the job exists.
    assert serialized["_operator_extra_links"] == {"Training Job": "training_job_link"}
    assert TrainingJobLink().xcom_key == "training_job_link"
