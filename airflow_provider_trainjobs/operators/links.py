"""The "Training Job" button on a task: a link to the job's console page, saved in XCom when the job is created.

Airflow 3 renders extra links from XCom: the operator pushes the URL under :attr:`TrainingJobLink.xcom_key` while
it runs, and ``get_link`` reads it back, so the link survives retries and works in the UI without a hook call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

__all__ = ["TrainingJobLink"]


class TrainingJobLink(BaseOperatorLink):
    """Console page of the training job a task submitted or waited on (local service, AI Platform or Vertex)."""

    name = "Training Job"

    @property
    def xcom_key(self) -> str:
        """The XCom key the URL is stored under (stable: the UI looks it up by this key)."""
        return "training_job_link"

    @classmethod
    def persist(cls, context: Context | dict[str, Any], url: str) -> None:
        """Store ``url`` for the running task instance so the UI can show the button."""
        context["ti"].xcom_push(key=cls().xcom_key, value=url)

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The stored URL, or an empty string while no job has been created yet."""
        from airflow.sdk.bases.xcom import BaseXCom

        value = BaseXCom.get_one(key=self.xcom_key, dag_id=ti_key.dag_id, task_id=ti_key.task_id,
                                 run_id=ti_key.run_id, map_index=ti_key.map_index)
        return str(value) if value else ""
