"""Small pieces the operators and the sensor share: run labels, trigger events, the best trial, clean strings.

Pure functions on plain dicts, so they can be tested without Airflow running anything.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_trainjobs.hooks.waiting import raise_for_event  # its home is beside the trigger's event
from airflow_provider_trainjobs.naming import sanitize_label_value

__all__ = ["RUN_LABEL_KEYS", "best_trial_summary", "clean_str", "raise_for_event", "run_labels"]

RUN_LABEL_KEYS = ("airflow_dag_id", "airflow_task_id", "airflow_run_id")


def clean_str(value: Any) -> str | None:
    """A templated string argument without surrounding whitespace; None when empty or not given."""
    if value is None:
        return None
    return str(value).strip() or None


def run_labels(dag_id: str, task_id: str, run_id: str) -> dict[str, str]:
    """Labels that tie a job to the Airflow task instance that submitted it (sanitised to label rules)."""
    return dict(zip(RUN_LABEL_KEYS, (sanitize_label_value(v) for v in (dag_id, task_id, run_id)), strict=True))


def best_trial_summary(job: dict[str, Any]) -> dict[str, Any] | None:
    """``{trialId, hyperparameters, finalMetric}`` of the job's best trial so far, or None (spec.best_trial)."""
    from airflow_provider_trainjobs.spec import best_trial

    best = best_trial(job)
    if not best:
        return None
    return {
        "trialId": best.get("trialId"),
        "hyperparameters": dict(best.get("hyperparameters") or {}),
        "finalMetric": dict(best.get("finalMetric") or {}),
    }
