"""Cancel a training job by id (``gcloud ai-platform jobs cancel``) from a DAG."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_trainjobs.hooks.base import DEFAULT_CONN_ID
from airflow_provider_trainjobs.operators.links import TrainingJobLink

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["CancelTrainingJobOperator"]


class CancelTrainingJobOperator(BaseOperator):
    """Ask the service to cancel ``job_id``; returns the job as the service reports it after the request.

    Cancelling a job that already finished is not an error unless ``ignore_finished=False``.

    :param job_id: the job to cancel (templated).
    :param ignore_finished: False fails the task when the job already ended.
    :param gcp_conn_id: the connection; ``project_id``, ``backend``, ``region``: None uses the connection's.
    :param impersonation_chain: a service account to impersonate, or a chain whose last entry is the target
        (templated).
    """

    template_fields: Sequence[str] = ("job_id", "project_id", "gcp_conn_id", "backend", "region",
                                      "impersonation_chain")
    operator_extra_links = (TrainingJobLink(),)
    ui_color = "#f7d7d7"

    def __init__(
        self,
        *,
        job_id: str,
        ignore_finished: bool = True,
        gcp_conn_id: str = DEFAULT_CONN_ID,
        project_id: str | None = None,
        backend: str | None = None,
        region: str | None = None,
        impersonation_chain: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.impersonation_chain = impersonation_chain
        self.job_id = job_id
        self.ignore_finished = ignore_finished
        self.gcp_conn_id = gcp_conn_id
        self.project_id = project_id
        self.backend = backend
        self.region = region

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_trainjobs.hooks.training import TrainingJobHook

        if not self.job_id:
            raise ValueError("job_id: required (the id of the job to cancel)")
        hook = TrainingJobHook(gcp_conn_id=self.gcp_conn_id, project_id=self.project_id, backend=self.backend,
                               region=self.region, impersonation_chain=self.impersonation_chain)
        TrainingJobLink.persist(context, hook.console_url(self.job_id))
        job = hook.cancel_job(self.job_id, ignore_finished=self.ignore_finished)
        self.log.info("training job %s is %s", self.job_id, job.get("state"))
        return job
