"""Triggers that wait on training jobs asynchronously (for deferrable operators and sensors)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_trainjobs._lazy import lazy_exports

if TYPE_CHECKING:
    from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger

__all__ = ["TrainingJobTrigger"]

__getattr__ = lazy_exports(__name__, {"TrainingJobTrigger": "training"})
