"""Sensors that wait on training jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_trainjobs._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_provider_trainjobs.sensors.training import TrainingJobSensor

__all__ = ["TrainingJobSensor"]

__getattr__ = lazy_exports(__name__, {"TrainingJobSensor": "training"})
