"""Runs the trials of a hyperparameter tuning job on the engine (integration with local/tuning.py pending)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_trainjobs.local.engine import Engine, Run


def run_tuning(engine: Engine, run: Run, job: dict[str, Any], python_path: list[Path]) -> tuple[str, str]:
    """Interim: tuning jobs fail with a clear message until the trial runner lands."""
    return "FAILED", "hyperparameter tuning is not yet supported by this version of the local service"
