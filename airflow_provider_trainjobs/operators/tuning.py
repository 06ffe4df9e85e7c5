"""Hyperparameter tuning as an Airflow task: a submit whose job carries a HyperparameterSpec.

The best trial goes to XCom ``best_trial`` so a downstream task can template the winning values into its
``user_args``; trial progress is logged while the job runs by the shared wait loop (hooks/wait_loop.py), in
the worker or, deferred, in the triggerer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.operators._common import push_best_trial
from airflow_provider_trainjobs.operators.submit import SubmitTrainingJobOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["HyperparameterTuningJobOperator"]


class HyperparameterTuningJobOperator(SubmitTrainingJobOperator):
    """Submit a tuning job (``hyperparameters`` as an argument or in ``config``) and wait for it.

    Returns the final Job and pushes XCom ``best_trial`` = ``{trialId, hyperparameters, finalMetric}`` and
    ``best_trial_args`` = ``["--name=value", ...]`` (see :func:`~airflow_provider_trainjobs.operators._common.push_best_trial`),
    in sync and deferrable mode alike.
    ``resume_previous_job_id`` continues the search of an earlier tuning job (``resumePreviousJobId``).
    """

    template_fields: Sequence[str] = (*SubmitTrainingJobOperator.template_fields, "resume_previous_job_id")
    ui_color = "#e3d7f7"

    def __init__(self, *, resume_previous_job_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.resume_previous_job_id = resume_previous_job_id

    def _job_arguments(self, config_job: dict[str, Any]) -> dict[str, Any]:
        arguments = super()._job_arguments(config_job)
        if self.resume_previous_job_id:
            # The whole field is replaced (gcloud's merge rule), so carry the rest of the spec along.
            spec = arguments.get("hyperparameters")
            if spec is None:
                spec = (config_job.get("trainingInput") or {}).get("hyperparameters")
            if isinstance(spec, Mapping):
                arguments["hyperparameters"] = {**spec, "resumePreviousJobId": str(self.resume_previous_job_id)}
        return arguments

    def _build_body(self, job_id: str, package_uris: Sequence[str] | None, labels: dict[str, str] | None,
                    config_job: dict[str, Any] | None = None) -> dict[str, Any]:
        body = super()._build_body(job_id, package_uris, labels, config_job)
        if not (body.get("trainingInput") or {}).get("hyperparameters"):
            from airflow_provider_trainjobs.spec import InvalidJobSpec

            raise InvalidJobSpec(
                "trainingInput.hyperparameters",
                "a tuning job needs a HyperparameterSpec: pass hyperparameters= or put it in config",
            )
        return body

    def on_job_done(self, context: Context, job: dict[str, Any]) -> dict[str, Any]:
        push_best_trial(context, job, self.log)
        return super().on_job_done(context, job)
