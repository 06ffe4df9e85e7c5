"""Airflow provider for AI Platform Training style jobs on Vertex AI, the ml v1 protocol, or a local service.

This module stays import-light: Airflow calls :func:`get_provider_info` while it discovers providers.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    """Return the provider metadata Airflow's ProvidersManager reads through the entry point."""
    return {
        "package-name": "airflow-provider-trainjobs",
        "name": "Training Jobs",
        "description": "Package, stage, submit, tune and wait for training jobs "
        "(AI Platform Training ml v1, Vertex AI custom training, or the embedded local service).",
        "versions": [__version__],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_trainjobs.hooks.base.TrainJobsBaseHook",
                "connection-type": "trainjobs",
            }
        ],
        "hooks": [
            {
                "integration-name": "Training Jobs",
                "python-modules": [
                    "airflow_provider_trainjobs.hooks.base",
                    "airflow_provider_trainjobs.hooks.staging",
                    "airflow_provider_trainjobs.hooks.training",
                    "airflow_provider_trainjobs.hooks.logs",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": "Training Jobs",
                "python-modules": ["airflow_provider_trainjobs.operators"],
            }
        ],
        "sensors": [
            {
                "integration-name": "Training Jobs",
                "python-modules": ["airflow_provider_trainjobs.sensors"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Training Jobs",
                "python-modules": ["airflow_provider_trainjobs.triggers"],
            }
        ],
        "extra-links": ["airflow_provider_trainjobs.operators.links.TrainingJobLink"],
    }
