"""Operators for DAG files; names resolve lazily so ``import`` stays cheap at DAG parse time."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
