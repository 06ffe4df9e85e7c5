"""Small pieces the operators and the sensor share: run labels, trigger events, the best trial, clean strings.

Pure functions on plain dicts, so they can be tested without Airflow running anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["BEST_TRIAL_ARGS_KEY", "BEST_TRIAL_KEY", "RUN_LABEL_KEYS", "best_trial_args", "best_trial_summary",
           "clean_str", "is_tuning_job", "push_best_trial", "run_labels"]

RUN_LABEL_KEYS = ("airflow_dag_id", "airflow_task_id", "airflow_run_id")
# XCom keys of a tuning job's result, pushed by whichever task observed the job's end (operator or sensor).
BEST_TRIAL_KEY = "best_trial"
BEST_TRIAL_ARGS_KEY = "best_trial_args"


def __getattr__(name: str) -> Any:
    """``raise_for_event`` lives beside the trigger's event in hooks/waiting.py; it is re-exported lazily,
    because that module loads the spec package, too heavy for a DAG file's parse."""
    if name == "raise_for_event":
        from airflow_provider_trainjobs.hooks.waiting import raise_for_event

        return raise_for_event
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def clean_str(value: Any) -> str | None:
    """A templated string argument without surrounding whitespace; None when empty or not given."""
    if value is None:
        return None
    return str(value).strip() or None


def run_labels(dag_id: str, task_id: str, run_id: str) -> dict[str, str]:
    """Labels that tie a job to the Airflow task instance that submitted it (sanitised to label rules)."""
    from airflow_provider_trainjobs.naming import sanitize_label_value

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


def is_tuning_job(job: Mapping[str, Any]) -> bool:
    """True for a hyperparameter tuning job (a HyperparameterSpec in its input, or the service says so)."""
    training_input = job.get("trainingInput")
    output = job.get("trainingOutput")
    return bool((isinstance(training_input, Mapping) and training_input.get("hyperparameters"))
                or (isinstance(output, Mapping) and output.get("isHyperparameterTuningJob")))


def best_trial_args(best: Mapping[str, Any] | None) -> list[str] | None:
    """The best trial's hyperparameters as ready trainer arguments, ``["--name=value", ...]`` (in the order
    the service reported them), exactly as a trial received them; None without a best trial."""
    if best is None:
        return None
    hyperparameters = best.get("hyperparameters") or {}
    return [f"--{name}={value}" for name, value in hyperparameters.items()]


def _no_best_trial_reason(job: Mapping[str, Any]) -> str:
    """Why a tuning job has no best trial, in the words docs/operators.md's table uses."""
    from airflow_provider_trainjobs.spec.results import DEFAULT_METRIC_TAG

    output = job.get("trainingOutput") if isinstance(job.get("trainingOutput"), Mapping) else {}
    trials = [t for t in (output or {}).get("trials") or [] if isinstance(t, Mapping)]
    if not trials:
        return "it ran no trial"
    if not any(t.get("state") == "SUCCEEDED" for t in trials):
        return f"none of its {len(trials)} trial(s) SUCCEEDED"
    spec = (job.get("trainingInput") or {}).get("hyperparameters") or {}
    tag = (output or {}).get("hyperparameterMetricTag") or (spec.get("hyperparameterMetricTag")
                                                             if isinstance(spec, Mapping) else None)
    return (f"no trial reported the metric {tag or DEFAULT_METRIC_TAG!r} (hyperparameterMetricTag: the trainer "
            "must report its objective under that tag)")


def push_best_trial(context: Mapping[str, Any], job: Mapping[str, Any], log: Any = None) -> dict[str, Any] | None:
    """Push XComs ``best_trial`` ({trialId, hyperparameters, finalMetric}) and ``best_trial_args``
    (``["--name=value", ...]``) for a tuning job whose end this task observed; log which case it is.

    Called by every path that sees a tuning job end: the tuning operator (sync and deferred) and the sensor
    (poke and deferred). Both XComs are None, with a warning saying why, when no trial qualifies. Any other
    job pushes nothing. Returns the best trial summary.
    """
    if not is_tuning_job(job):
        return None
    logger = log if log is not None else logging.getLogger(__name__)
    best = best_trial_summary(dict(job))
    if best is None:
        logger.warning("tuning job %s has no best trial: %s; XCom best_trial and best_trial_args are None",
                       job.get("jobId"), _no_best_trial_reason(job))
    else:
        logger.info("best trial %s: %s -> %s", best["trialId"],
                    best["hyperparameters"], best["finalMetric"])
    ti = context["ti"]
    ti.xcom_push(key=BEST_TRIAL_KEY, value=best)
    ti.xcom_push(key=BEST_TRIAL_ARGS_KEY, value=best_trial_args(best))
    return best
