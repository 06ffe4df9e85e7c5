"""Cancel a training job by id (``gcloud ai-platform jobs cancel``) from a DAG."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.operators.connection import ConnectionArgsOperator
from airflow_provider_trainjobs.operators.links import TrainingJobLink

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["CancelTrainingJobOperator"]


class CancelTrainingJobOperator(ConnectionArgsOperator):
    """Ask the service to cancel ``job_id``; returns the job as the service reports it after the request.

    Cancelling a job that already finished is not an error unless ``ignore_finished=False``.

    :param job_id: the job to cancel (templated).
    :param ignore_finished: False fails the task when the job already ended.
    :param gcp_conn_id, project_id, backend, region, impersonation_chain: as for ConnectionArgsOperator
        (operators/connection.py); all but gcp_conn_id's default templated like ``job_id``.
    """

    template_fields: Sequence[str] = ("job_id", *ConnectionArgsOperator.template_fields)
    operator_extra_links = (TrainingJobLink(),)
    ui_color = "#f7d7d7"

    def __init__(
        self,
        *,
        job_id: str,
        ignore_finished: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.ignore_finished = ignore_finished

    def execute(self, context: Context) -> dict[str, Any]:
        if not self.job_id:
            raise ValueError("job_id: required (the id of the job to cancel)")
        hook = self.training_hook()
        TrainingJobLink.persist(context, hook.console_url(self.job_id))
        job = hook.cancel_job(self.job_id, ignore_finished=self.ignore_finished)
        self.log.info("training job %s is %s", self.job_id, job.get("state"))
        return job
