"""A job past its maxRunningTime fails the task as a deadline, with the limit named, in both waiting modes.

Against ``lenient_service`` (it enforces deadlines 1000x later), so the operator's own wait is what passes
the deadline and cancels the job; in deferred mode the real trigger runs and its event decides.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import TaskDeferred
from support import TRAINER_MODULE, make_context, render_and_execute

from airflow_provider_trainjobs.hooks.errors import TrainingJobDeadlineExceeded
from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.operators import SubmitTrainingJobOperator

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("deferrable", [False, True], ids=["sync", "deferred"])
def test_a_job_past_max_running_time_is_cancelled_and_fails_the_task_as_a_deadline(
    lenient_conn: tuple[Any, str], unique_dag_id: str, deferrable: bool
) -> None:
    _, package = lenient_conn
    with DAG(unique_dag_id, schedule=None):
        op = SubmitTrainingJobOperator(task_id="train", packages=[package], module_name=TRAINER_MODULE,
                                       user_args=["--sleep=60"], max_running_time="1s", deadline_grace=0,
                                       poll_interval=0.2, deferrable=deferrable)
    context = make_context(op)
    with pytest.raises(TrainingJobDeadlineExceeded, match="maxRunningTime") as failed:
        if not deferrable:
            render_and_execute(op, context)
        else:
            with pytest.raises(TaskDeferred) as deferred:
                render_and_execute(op, context)

            async def first_event() -> Any:
                return await anext(aiter(deferred.value.trigger.run()))

            op.execute_complete(context, event=asyncio.run(first_event()).payload)
    assert failed.value.limit == "maxRunningTime"
    job_id = context["ti"].pushed["job_id"]
    assert TrainingJobHook().get_job(job_id)["state"] in ("CANCELLING", "CANCELLED")
