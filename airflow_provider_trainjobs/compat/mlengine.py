"""``MLEngineStartTrainingJobOperator`` and ``MLEngineTrainingCancelJobOperator`` with the removed Google
operators' signatures, so a DAG written for them changes one import line (docs/migrating-mlengine.md).

They are this provider's submit and cancel operators underneath: the job runs on the connection's backend
(the local service, the ``ml`` v1 protocol, or Vertex AI for the service Google shut down), ``job_id`` is
normalised as the old operators did (``my-job.1`` → ``my_job_1``, a leading digit gets ``z_``), and the
old XComs (``job_id``, ``gcp_metadata``) are pushed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import conf

from airflow_provider_trainjobs.hooks.base import DEFAULT_CONN_ID
from airflow_provider_trainjobs.operators.cancel import CancelTrainingJobOperator
from airflow_provider_trainjobs.operators.submit import SubmitTrainingJobOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["MLEngineStartTrainingJobOperator", "MLEngineTrainingCancelJobOperator", "normalize_mlengine_job_id"]

# The old operator's modes: "DRY_RUN" logs the request and submits nothing; anything else submits.
DRY_RUN = "DRY_RUN"


def normalize_mlengine_job_id(job_id: str) -> str:
    """The job id the removed operators sent: every run of characters other than letters and digits becomes
    one ``_``, and an id starting with a digit gets a ``z_`` prefix (templates are rendered before this)."""
    text = str(job_id)
    if text[:1].isdigit():
        text = f"z_{text}"
    return re.sub(r"[^0-9a-zA-Z]+", "_", text)


class MLEngineStartTrainingJobOperator(SubmitTrainingJobOperator):
    """The removed ``airflow.providers.google.cloud.operators.mlengine.MLEngineStartTrainingJobOperator``.

    :param job_id: the job's id, normalised as the old operator did (templated).
    :param region: the region the job runs in (templated).
    :param project_id: the project; None uses the connection's (templated).
    :param package_uris: ``gs://`` packages of the trainer (this provider's ``packages``; templated).
    :param training_python_module: the module to run (``module_name``; templated).
    :param training_args: the trainer's arguments (``user_args``; templated).
    :param master_config: the master's ReplicaConfig (``trainingInput.masterConfig``, e.g. ``imageUri`` for a
        custom container); needs ``master_type`` as before (templated).
    :param mode: ``"DRY_RUN"`` validates, builds and logs the request and submits nothing (``dry_run=True``);
        any other value submits.
    :param impersonation_chain: a service account to impersonate, or a chain whose last entry is the target.
    :param deferrable: wait in the triggerer. :param cancel_on_kill: cancel the job when the task is killed.

    ``scale_tier``, ``master_type``, ``runtime_version``, ``python_version``, ``job_dir``,
    ``service_account``, ``labels``, ``hyperparameters`` and ``gcp_conn_id`` keep their meaning; every other
    keyword of :class:`~airflow_provider_trainjobs.operators.SubmitTrainingJobOperator` is accepted too.
    Returns the final Job; pushes XComs ``job_id`` and, once the job SUCCEEDED, ``gcp_metadata``
    (``{"job_id", "project_id"}``).
    """

    template_fields: Sequence[str] = (*SubmitTrainingJobOperator.template_fields, "package_uris",
                                      "training_python_module", "training_args", "master_config")

    def __init__(
        self,
        *,
        job_id: str,
        region: str,
        project_id: str | None = None,
        package_uris: Sequence[str] | None = None,
        training_python_module: str | None = None,
        training_args: Sequence[str] | None = None,
        scale_tier: str | None = None,
        master_type: str | None = None,
        master_config: dict[str, Any] | None = None,
        runtime_version: str | None = None,
        python_version: str | None = None,
        job_dir: str | None = None,
        service_account: str | None = None,
        gcp_conn_id: str = DEFAULT_CONN_ID,
        mode: str = "PRODUCTION",
        labels: dict[str, str] | None = None,
        impersonation_chain: str | Sequence[str] | None = None,
        hyperparameters: dict[str, Any] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        cancel_on_kill: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            job_id=job_id, region=region, project_id=project_id, scale_tier=scale_tier, master_type=master_type,
            runtime_version=runtime_version, python_version=python_version, job_dir=job_dir,
            service_account=service_account, gcp_conn_id=gcp_conn_id, labels=labels,
            impersonation_chain=impersonation_chain, hyperparameters=hyperparameters, deferrable=deferrable,
            cancel_on_kill=cancel_on_kill, dry_run=str(mode).upper() == DRY_RUN, **kwargs,
        )
        self.mode = mode
        self.package_uris = package_uris
        self.training_python_module = training_python_module
        self.training_args = training_args
        self.master_config = master_config

    def execute(self, context: Context) -> dict[str, Any]:
        """Map the old arguments onto this provider's (after rendering), then submit as it does."""
        self.job_id = normalize_mlengine_job_id(str(self.job_id)) if self.job_id else self.job_id
        if self.package_uris is not None:
            self.packages = self.package_uris
        if self.training_python_module is not None:
            self.module_name = self.training_python_module
        if self.training_args is not None:
            self.user_args = self.training_args
        if self.master_config is not None:
            base = self.config if isinstance(self.config, dict) else {}
            training_input = dict(base.get("trainingInput") or {})
            self.config = {**base, "trainingInput": {**training_input, "masterConfig": self.master_config}}
        return super().execute(context)

    def on_job_done(self, context: Context, job: dict[str, Any]) -> dict[str, Any]:
        """Push the old operator's ``gcp_metadata`` XCom as well."""
        project = self.project_id or self.hook.project_id
        context["ti"].xcom_push(key="gcp_metadata", value={"job_id": job.get("jobId"), "project_id": project})
        return super().on_job_done(context, job)


class MLEngineTrainingCancelJobOperator(CancelTrainingJobOperator):
    """The removed ``MLEngineTrainingCancelJobOperator``: cancel ``job_id`` (normalised as the old operator did).

    :param job_id: the job to cancel (templated). :param project_id: None uses the connection's (templated).
    :param gcp_conn_id: the connection. :param impersonation_chain: as for the start operator (templated).
    A job that already ended is not an error, as before.
    """

    def __init__(self, *, job_id: str, project_id: str | None = None, gcp_conn_id: str = DEFAULT_CONN_ID,
                 impersonation_chain: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        super().__init__(job_id=job_id, project_id=project_id, gcp_conn_id=gcp_conn_id,
                         impersonation_chain=impersonation_chain, **kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        self.job_id = normalize_mlengine_job_id(str(self.job_id)) if self.job_id else self.job_id
        return super().execute(context)
