"""Operators for DAG files; names resolve lazily so ``import`` stays cheap at DAG parse time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_trainjobs._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_provider_trainjobs.operators.cancel import CancelTrainingJobOperator
    from airflow_provider_trainjobs.operators.links import TrainingJobLink
    from airflow_provider_trainjobs.operators.package import PackageTrainingAppOperator
    from airflow_provider_trainjobs.operators.submit import SubmitTrainingJobOperator
    from airflow_provider_trainjobs.operators.tuning import HyperparameterTuningJobOperator

_EXPORTS = {
    "PackageTrainingAppOperator": "package",
    "SubmitTrainingJobOperator": "submit",
    "HyperparameterTuningJobOperator": "tuning",
    "CancelTrainingJobOperator": "cancel",
    "TrainingJobLink": "links",
}

__all__ = [
    "PackageTrainingAppOperator",
    "SubmitTrainingJobOperator",
    "HyperparameterTuningJobOperator",
    "CancelTrainingJobOperator",
    "TrainingJobLink",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
