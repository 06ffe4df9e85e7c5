"""The DAG snippets in the operator, tuning and sensor pages define DAGs whose jobs pass validation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from support import make_context

from airflow_provider_trainjobs.operators import SubmitTrainingJobOperator
from airflow_provider_trainjobs.sensors import TrainingJobSensor

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"
XCOMS = {
    ("tune", "best_trial"): {"trialId": "3", "hyperparameters": {"learning_rate": "0.05", "hidden_units": "16"},
                             "finalMetric": {"objectiveValue": 0.9}},
    ("tune", "return_value"): {"trainingInput": {"packageUris": ["gs://census-staging/tune/abc/trainer-0.1.tar.gz"]}},
    ("submit", "job_id"): "submit_job_1",
    ("train", "job_id"): "train_job_1",
    ("tune", "job_id"): "tune_job_1",
    ("wait", "best_trial_args"): ["--learning_rate=0.05"],
}


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.S)


@pytest.mark.parametrize("page", ["operators.md", "tuning.md", "sensor.md"])
def test_page_snippets_build_valid_jobs(page: str, storage_conn: Any) -> None:
    blocks = python_blocks(page)
    assert blocks, f"{page} has no python snippet"
    for code in blocks:
        namespace: dict[str, Any] = {"__name__": f"docs_{page}"}
        exec(compile(code, page, "exec"), namespace)  # noqa: S102 - the page's own example
        dags = [v for v in namespace.values() if isinstance(v, DAG)] or [
            v.dag for v in namespace.values() if hasattr(v, "dag") and hasattr(v, "task_id")
        ]
        assert dags, f"a snippet of {page} defines no DAG"
        for task in dags[0].tasks:
            context = make_context(task, store=dict(XCOMS))
            task.render_template_fields(context)
            if isinstance(task, SubmitTrainingJobOperator):
                body = task._build_body("doc_job", task._provisional_uris(), None)  # validation only
                assert body["trainingInput"]["pythonModule"] == "trainer.task"
            if isinstance(task, TrainingJobSensor):
                assert task.job_id in {value for (_, key), value in XCOMS.items() if key == "job_id"}
