"""The DAG snippet in docs/hooks.md parses and its task really trains on the local service."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from support import TRAINER_MODULE

DOC = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def test_doc_dag_runs_against_the_local_service(tiny_package: str) -> None:
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    dag = namespace["train_with_the_hook"]()
    train = dag.get_task("train").python_callable
    job = train(package_uri=tiny_package, module=TRAINER_MODULE, poll_interval=0.1)
    assert job["jobId"] == "census_hook_example" and job["state"] == "SUCCEEDED"
    assert job["labels"]["team"] == "ml"
