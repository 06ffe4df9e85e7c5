"""Sensors that wait on training jobs."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_trainjobs.sensors.training import TrainingJobSensor

__all__ = ["TrainingJobSensor"]


def __getattr__(name: str) -> Any:
    if name != "TrainingJobSensor":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = importlib.import_module(f"{__name__}.training").TrainingJobSensor
    globals()[name] = value
    return value
