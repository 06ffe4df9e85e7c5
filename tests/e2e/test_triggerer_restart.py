"""Deferred submits survive a triggerer crash: a real Airflow 3 deployment (api-server, scheduler with
LocalExecutor, dag-processor, triggerer; SQLite, temporary home) runs two deferrable submits of the test
trainer; the triggerer is SIGKILLed while both tasks are deferred and restarted. The run must succeed with
one job per task on the local service and every trainer line once in the task logs (no replay).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from support.airflow_stack import AirflowStack

from airflow_provider_trainjobs.hooks.training import TrainingJobHook

pytestmark = pytest.mark.timeout(420)

DAG_ID = "trainjobs_restart"
TASKS = ("first", "second")
LINES = 4
DAG = '''"""Two deferrable submits of the test trainer (written by tests/e2e/test_triggerer_restart.py)."""
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_trainjobs.operators import SubmitTrainingJobOperator

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    for name in {tasks!r}:
        SubmitTrainingJobOperator(
            task_id=name, packages=[{uri!r}], module_name="toolbox.task", region="us-central1",
            scale_tier="BASIC", user_args=["--lines", "{lines}", "--sleep", "{sleep}"],
            deferrable=True, poll_interval=2.0,
        )
'''


def _wait(what: str, check: Any, stack: AirflowStack, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}\n{stack.output()}")


def _task_logs(home: Path, task_id: str) -> str:
    """Every log file of the task (the worker's and each triggerer's), concatenated."""
    files = sorted((home / "logs").glob(f"dag_id={DAG_ID}/**/task_id={task_id}/**/*"))
    return "\n".join(f.read_text(errors="replace") for f in files if f.is_file())


def _trainer_lines(text: str) -> Counter[str]:
    """The job's log entries (the trainer's and the service's) the waits printed, with how often each was."""
    return Counter(m.group(1) for m in re.finditer(r'"event":"\[(?:master-replica-\d+|service)\] ([^"]*)"', text))


def test_deferred_submits_finish_once_across_a_triggerer_kill(local_conn: Any, tiny_package: str,
                                                               tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "restart_dag.py").write_text(DAG.format(dag_id=DAG_ID, tasks=TASKS, uri=tiny_package, lines=LINES,
                                                    sleep=40))
    stack = AirflowStack.make(tmp_path / "airflow", dags, AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT=local_conn.conn_json())
    try:
        for name in ("api-server", "dag-processor", "scheduler", "triggerer"):
            stack.start(name)
        _wait("the DAG to be parsed", lambda: stack.query("select 1 from dag where dag_id = ?", DAG_ID), stack, 120)
        assert stack.airflow("dags", "unpause", DAG_ID).returncode == 0
        triggered = stack.airflow("dags", "trigger", DAG_ID)
        assert triggered.returncode == 0, triggered.stderr[-2000:]

        def deferred_with_lines() -> bool:
            states = dict(stack.query("select task_id, state from task_instance where dag_id = ?", DAG_ID))
            return all(states.get(t) == "deferred" and f"tiny line {LINES} of {LINES}" in _task_logs(stack.home, t)
                       for t in TASKS)

        _wait("both tasks deferred with their trainer's lines in the log", deferred_with_lines, stack, 150)
        stack.kill("triggerer")
        stack.start("triggerer")

        def finished() -> str | None:
            rows = stack.query("select state from dag_run where dag_id = ?", DAG_ID)
            return rows[0][0] if rows and rows[0][0] in ("success", "failed") else None

        state = _wait("the run to finish", finished, stack, 150)
        ti_states = dict(stack.query("select task_id, state from task_instance where dag_id = ?", DAG_ID))
        triggerers = stack.query("select count(*) from job where job_type = 'TriggererJob'")[0][0]
    finally:
        stack.stop()
    assert state == "success", f"{ti_states}\n{stack.output()}"
    assert triggerers == 2  # the run really went through the restarted triggerer

    jobs = [j for j in TrainingJobHook().list_jobs()
            if (j.get("labels") or {}).get("airflow_dag_id") == DAG_ID]
    per_task = Counter(j["labels"]["airflow_task_id"] for j in jobs)
    assert per_task == dict.fromkeys(TASKS, 1), [j["jobId"] for j in jobs]
    assert all(j["state"] == "SUCCEEDED" for j in jobs)

    for task_id in TASKS:
        lines = _trainer_lines(_task_logs(stack.home, task_id))
        expected = {f"tiny line {n} of {LINES}" for n in range(1, LINES + 1)}
        assert expected <= set(lines), lines
        assert any(k.startswith("tiny trainer done") for k in lines), lines  # tailed to the end after the restart
        replayed = {k: v for k, v in lines.items() if v > 1}
        assert not replayed, f"{task_id}: trainer lines printed more than once: {replayed}"
