"""Airflow provider for AI Platform Training style jobs on Vertex AI, the ml v1 protocol, or a local service.

This module stays import-light: Airflow calls :func:`get_provider_info` while it discovers providers.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def _text(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


# The connection form (Airflow 3.2+ reads these instead of importing UI widgets from the hook).
_CONN_FIELDS: dict[str, Any] = {
    "project": _text("Project Id", "The Google Cloud project every call addresses."),
    "backend": _text(
        "Backend", "ai-platform (the ml v1 protocol) or vertex (Vertex AI custom training).",
        enum=["ai-platform", "vertex", None], default="ai-platform",
    ),
    "region": _text("Region", "Default region for jobs that do not name one, e.g. us-central1."),
    "api_endpoint": _text("API endpoint", "Where the ml v1 / aiplatform v1 API answers; empty = Google's."),
    "storage_endpoint": _text("Cloud Storage endpoint", "Empty = Google's; the local service prints its own."),
    "logging_endpoint": _text("Cloud Logging endpoint", "Empty = Google's (or the API endpoint when it is local)."),
    "executor_image_uri": _text(
        "Vertex executor image", "Prebuilt training container for Python-package jobs on Vertex AI."
    ),
    "key_path": _text("Keyfile path", "A service-account JSON key file; empty = Application Default Credentials."),
    # "multiline" is the format Airflow's form renders as a text area, so a pasted JSON key keeps its lines;
    # the value is still secret: Airflow masks every field whose name contains "keyfile_dict".
    "keyfile_dict": _text("Keyfile JSON", "A service-account JSON key: paste the whole file.", format="multiline"),
}


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
                "hook-name": "Training Jobs (AI Platform / Vertex AI / local)",
                "connection-type": "trainjobs",
                "conn-fields": _CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "schema", "login", "password", "port"],
                    "relabeling": {},
                    "placeholders": {},
                },
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
