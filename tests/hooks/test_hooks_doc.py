"""docs/hooks.md: its DAG and trigger snippets run against the local service, and every ValueError message
it lists is the one the hook raises."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowException, TaskDeferred
from support import TRAINER_MODULE, make_context, tiny_job, unique

from airflow_provider_trainjobs.hooks.training import TrainingJobHook

DOC = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def snippet(containing: str) -> str:
    """The page's one python block that contains ``containing``."""
    blocks = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S) if containing in b]
    assert len(blocks) == 1, f"expected one python block of hooks.md with {containing!r}, found {len(blocks)}"
    return blocks[0]


def run_snippet(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "docs_hooks"}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 - the page's own example
    return namespace


def test_doc_dag_runs_against_the_local_service(tiny_package: str) -> None:
    namespace = run_snippet(snippet("def train_with_the_hook"))
    dag = namespace["train_with_the_hook"]()
    train = dag.get_task("train").python_callable
    job = train(package_uri=tiny_package, module=TRAINER_MODULE, poll_interval=0.1)
    assert job["jobId"] == "census_hook_example" and job["state"] == "SUCCEEDED"
    assert job["labels"]["team"] == "ml"


def wait_task(job: dict[str, Any]) -> Any:
    """The page's ``WaitForMyJob`` operator, in a DAG of its own, for ``job``."""
    operator = run_snippet(snippet("TrainingJobTrigger("))["WaitForMyJob"]
    with DAG(unique("hooks_doc"), schedule=None):
        return operator(task_id="wait", job=job, poll_interval=0.1)


def defer_and_finish(op: Any) -> Any:
    """Run the snippet operator as Airflow would: execute until it defers, run the trigger, resume."""
    context = make_context(op)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    assert deferred.value.method_name == "execute_complete"
    event = asyncio.run(anext(aiter(deferred.value.trigger.run())))
    return op.execute_complete(context, event.payload)


def test_doc_trigger_operator_defers_and_returns_the_job(tiny_package: str) -> None:
    job_id = unique("hooks_doc_trigger")
    job = defer_and_finish(wait_task(tiny_job(job_id, tiny_package)))
    assert job["jobId"] == job_id and job["state"] == "SUCCEEDED"


def test_doc_trigger_operator_fails_with_the_jobs_message(tiny_package: str) -> None:
    op = wait_task(tiny_job(unique("hooks_doc_fail"), tiny_package, exit_code=3))
    with pytest.raises(AirflowException, match="non-zero status of 3"):
        defer_and_finish(op)


def conn(**extra: Any) -> str:
    return json.dumps({"conn_type": "trainjobs", "extra": extra})


# The endpoint is never reached: each error comes before any request.
DEFAULT = conn(project="p", region="us-central1", api_endpoint="http://127.0.0.1:9")
CONNECTIONS = {  # the default connection, as a case needs it
    "backend extra": conn(backend="sagemaker"),
    "keyfile_dict extra": conn(keyfile_dict="{not json"),
    "no project": conn(api_endpoint="http://127.0.0.1:9"),
    "vertex region": conn(backend="vertex", project="p", api_endpoint="http://127.0.0.1:9"),
}

CASES: dict[str, Callable[[], Any]] = {
    "max_retries": lambda: TrainingJobHook(max_retries=-1),
    "backend argument": lambda: TrainingJobHook(backend="sagemaker").get_job("j"),
    "backend extra": lambda: TrainingJobHook().get_job("j"),
    "keyfile_dict extra": lambda: TrainingJobHook().get_job("j"),
    "no project": lambda: TrainingJobHook().get_job("j"),
    "vertex region": lambda: TrainingJobHook().get_job("census_1"),
    "on_conflict": lambda: TrainingJobHook().create_job({"jobId": "j"}, on_conflict="replace"),
    "jobId": lambda: TrainingJobHook().create_job({"trainingInput": {}}),
    "region mismatch": lambda: TrainingJobHook(backend="vertex", region="us-central1").create_job(
        {"jobId": "census_1", "trainingInput": {"region": "europe-west4"}}),
    "page_size": lambda: TrainingJobHook().list_jobs(page_size=0),
    "vertex filter term": lambda: TrainingJobHook(backend="vertex").list_jobs(filter="trainingInput.region=x"),
    "vertex filter parens": lambda: TrainingJobHook(backend="vertex").list_jobs(filter="(jobId:census*"),
    "poll_interval": lambda: TrainingJobHook().wait_for_job("j", poll_interval=0),
    "grace": lambda: TrainingJobHook().wait_for_job("j", grace=-1),
    "heartbeat_interval": lambda: TrainingJobHook().wait_for_job("j", heartbeat_interval=-1),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_listed_value_error_is_the_hooks_own(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", CONNECTIONS.get(case, DEFAULT))
    with pytest.raises(ValueError) as raised:
        CASES[case]()
    assert f"`{raised.value}`" in DOC.read_text(), f"hooks.md does not list: {raised.value}"
