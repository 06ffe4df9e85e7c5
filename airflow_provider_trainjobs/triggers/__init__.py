"""Triggers that wait on training jobs asynchronously (for deferrable operators and sensors)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger

__all__ = ["TrainingJobTrigger"]


def __getattr__(name: str) -> Any:
    if name != "TrainingJobTrigger":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = importlib.import_module(f"{__name__}.training").TrainingJobTrigger
    globals()[name] = value
    return value
