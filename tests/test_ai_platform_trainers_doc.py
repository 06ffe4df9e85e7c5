"""docs/ai-platform-trainers.md: the DAG snippet builds valid jobs (a package over a runtime, a custom container)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
from airflow.sdk import DAG
from support import make_context

from airflow_provider_trainjobs.operators import SubmitTrainingJobOperator

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ai-platform-trainers.md"


def test_the_dag_snippet_builds_a_package_job_and_a_container_job(storage_conn: Any) -> None:
    (snippet,) = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S) if "with DAG(" in b]
    namespace: dict[str, Any] = {"__name__": "docs_ai_platform", "__file__": str(ROOT / "dags_examples" / "d.py")}
    exec(compile(snippet, str(DOC), "exec"), namespace)  # noqa: S102 - the page's own example
    dag = namespace["package"].dag
    assert isinstance(dag, DAG) and [t.task_id for t in dag.tasks] == ["package", "container"]
    bodies = {}
    for task in dag.tasks:
        assert isinstance(task, SubmitTrainingJobOperator)
        context = make_context(task)
        context["dag_run"] = SimpleNamespace(run_after=pendulum.datetime(2025, 2, 1, 6))
        task.render_template_fields(context)
        uris = task._provisional_uris() if task.package_path else []
        bodies[task.task_id] = task._build_body(task.job_id, uris, None)["trainingInput"]
    assert bodies["package"]["runtimeVersion"] == "2.11" and bodies["package"]["pythonModule"] == "trainer.task"
    assert bodies["container"]["masterConfig"]["imageUri"] == "localhost/rings-trainer:1"
    assert bodies["package"]["jobDir"] == "gs://my-bucket/rings/20250201"
    assert bodies["container"]["args"] == ["--epochs", "3"] and "packageUris" not in bodies["container"]
