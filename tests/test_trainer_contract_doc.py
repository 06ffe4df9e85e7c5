"""docs/trainer-contract.md: the tuning DAG snippet builds valid jobs for the example trainer, and the
flags it templates from the best trial are ones the example trainer accepts."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from airflow.sdk import DAG
from support import make_context

from airflow_provider_trainjobs.operators import SubmitTrainingJobOperator

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "trainer-contract.md"
EXAMPLES = ROOT / "dags_examples"


def dag_snippet() -> str:
    blocks = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S) if "with DAG(" in b]
    assert len(blocks) == 1
    return blocks[0]


def test_tuning_dag_snippet_builds_jobs_the_example_trainer_accepts(storage_conn: Any) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_trainer_contract", "__file__": str(EXAMPLES / "doc_dag.py")}
    exec(compile(dag_snippet(), str(DOC), "exec"), namespace)  # noqa: S102 - the page's own example
    dag = namespace["tune"].dag
    assert isinstance(dag, DAG)
    best = {"trialId": "2", "hyperparameters": {"learning-rate": "0.25", "hidden-units": "8"},
            "finalMetric": {"objectiveValue": 0.9}}
    bodies = {}
    for task in dag.tasks:
        assert isinstance(task, SubmitTrainingJobOperator)
        assert Path(task.package_path).is_dir()  # the example trainer the page points at
        task.render_template_fields(make_context(task, store={("tune", "best_trial"): best}))
        bodies[task.task_id] = task._build_body("doc_job", task._provisional_uris(), None)  # validation only
    params = bodies["tune"]["trainingInput"]["hyperparameters"]["params"]
    final_args = bodies["train"]["trainingInput"]["args"]
    assert "--learning-rate=0.25" in final_args and "--hidden-units=8" in final_args

    sys.path.insert(0, str(EXAMPLES / "trainer_app"))
    try:
        from trainer.task import parse_args
    finally:
        sys.path.remove(str(EXAMPLES / "trainer_app"))
    trial_flags = [f"--{p['parameterName']}=1" for p in params]
    parsed = parse_args([*bodies["tune"]["trainingInput"]["args"], *trial_flags, "--job-dir", "gs://b/j"])
    assert parsed.learning_rate == 1.0 and parsed.hidden_units == 1
    assert parse_args([*final_args, "--job-dir", "gs://b/j"]).learning_rate == 0.25


def test_every_variable_the_local_service_sets_for_trainers_is_documented() -> None:
    from airflow_provider_trainjobs.local.cluster import _CONTAINER_ENV, VERTEX_ENV

    table = DOC.read_text().split("## The environment", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z_]+)`", table))
    missing = {*_CONTAINER_ENV, *VERTEX_ENV, "PYTHONUNBUFFERED"} - documented
    assert not missing, f"trainer-contract.md does not document {sorted(missing)}"
