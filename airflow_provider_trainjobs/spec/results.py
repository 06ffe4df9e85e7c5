"""Reading a Job back: the best tuning trial, a tuning job's progress line, and the part of a Job two
submissions are compared on."""

from __future__ import annotations

import copy
import math
from typing import Any

from .durations import format_duration
from .rules import as_int
from .schema import discovery_document

__all__ = ["DEFAULT_METRIC_TAG", "best_trial", "job_fingerprint", "tuning_progress"]

DEFAULT_METRIC_TAG = "training/hptuning/metric"

# Defaults the service applies when a field is left out; filled in so an echo from the server
# that spells them out still matches the body that omitted them.
_TRAINING_INPUT_DEFAULTS: dict[str, Any] = {"scaleTier": "BASIC"}
_HYPERPARAMETER_DEFAULTS: dict[str, Any] = {
    "goal": "MAXIMIZE",
    "algorithm": "ALGORITHM_UNSPECIFIED",
    "hyperparameterMetricTag": DEFAULT_METRIC_TAG,
    "maxTrials": 1,
    "maxParallelTrials": 1,
}


def _objective(trial: Any) -> float | None:
    if not isinstance(trial, dict) or trial.get("state") != "SUCCEEDED":
        return None
    metric = trial.get("finalMetric")
    if not isinstance(metric, dict):
        return None
    raw = metric.get("objectiveValue")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def best_trial(job: dict[str, Any]) -> dict[str, Any] | None:
    """The best SUCCEEDED trial with a finalMetric (a copy), by the job's goal (MAXIMIZE unless MINIMIZE).

    Ties go to the trial listed first. None when no trial qualifies.
    """
    output = job.get("trainingOutput") or {}
    trials = (output.get("trials") or []) if isinstance(output, dict) else []
    spec = (job.get("trainingInput") or {}).get("hyperparameters") or {}
    minimize = isinstance(spec, dict) and spec.get("goal") == "MINIMIZE"
    best: tuple[float, dict[str, Any]] | None = None
    for trial in trials:
        value = _objective(trial)
        if value is None:
            continue
        if best is None or (value < best[0] if minimize else value > best[0]):
            best = (value, trial)
    return copy.deepcopy(best[1]) if best else None


_TRIAL_DONE_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")


def tuning_progress(job: dict[str, Any]) -> str | None:
    """``"7/20 trials done, best accuracy=0.913 (trial 5)"`` for a tuning job; None for any other job.

    Done = trials that ended (or the service's completedTrialCount, if higher); the planned total is
    the service's own count when its trainingOutput publishes one, else ``hyperparameters.maxTrials``;
    for GRID_SEARCH, at most the number of grid points (the search ends when the grid is exhausted).
    """
    spec = (job.get("trainingInput") or {}).get("hyperparameters")
    output = job.get("trainingOutput") or {}
    if not isinstance(output, dict) or (not spec and not output.get("isHyperparameterTuningJob")):
        return None
    spec = spec if isinstance(spec, dict) else {}
    trials = [t for t in output.get("trials") or [] if isinstance(t, dict)]
    done = sum(1 for t in trials if t.get("state") in _TRIAL_DONE_STATES or t.get("endTime"))
    done = max(done, as_int(output.get("completedTrialCount")) or 0)
    total = as_int(output.get("maxTrialCount")) or as_int(output.get("maxTrials")) or as_int(spec.get("maxTrials")) or 1
    grid = _grid_size(spec) if spec.get("algorithm") == "GRID_SEARCH" else None
    if grid:  # a grid search stops when the grid is exhausted, even below maxTrials
        total = min(total, grid)
    line = f"{done}/{max(total, done)} trials done"
    best = best_trial(job)
    value = _objective(best) if best else None
    if best is not None and value is not None:
        tag = output.get("hyperparameterMetricTag") or spec.get("hyperparameterMetricTag") or DEFAULT_METRIC_TAG
        line += f", best {tag}={value:.4g} (trial {best.get('trialId')})"
    return line


def _grid_size(spec: dict[str, Any]) -> int | None:
    """How many points a GRID_SEARCH visits: the product of each parameter's value count (INTEGER: max-min+1,
    DISCRETE/CATEGORICAL: its values); None when a parameter has no countable values."""
    size = 1
    for param in spec.get("params") or []:
        if not isinstance(param, dict):
            return None
        kind = param.get("type")
        if kind == "INTEGER":
            low, high = as_int(param.get("minValue")), as_int(param.get("maxValue"))
            if low is None or high is None or high < low:
                return None
            size *= high - low + 1
        elif kind in ("DISCRETE", "CATEGORICAL"):
            values = param.get("discreteValues" if kind == "DISCRETE" else "categoricalValues")
            if not isinstance(values, list) or not values:
                return None
            size *= len(values)
        else:
            return None
    return size if spec.get("params") else None


def job_fingerprint(job: dict[str, Any]) -> dict[str, Any]:
    """What decides "same job" when a create hits 409: trainingInput and labels, normalised.

    Output fields, server-added ``goog-*`` labels, empty/null values and Google's encodings
    (int64 as strings, "3600.0s" vs "3600s") are normalised away; documented defaults are filled in.
    """
    schemas = discovery_document("ml.v1")["schemas"]
    training_input = job.get("trainingInput") or {}
    normal = _normalise(training_input, {"$ref": "GoogleCloudMlV1__TrainingInput"}, schemas)
    if not isinstance(normal, dict):
        normal = {}
    for key, value in _TRAINING_INPUT_DEFAULTS.items():
        normal.setdefault(key, value)
    hyper = normal.get("hyperparameters")
    if isinstance(hyper, dict):
        for key, value in _HYPERPARAMETER_DEFAULTS.items():
            hyper.setdefault(key, value)
        if hyper["goal"] == "GOAL_TYPE_UNSPECIFIED":
            hyper["goal"] = "MAXIMIZE"
    labels = job.get("labels") or {}
    kept = (
        {k: v for k, v in labels.items() if not str(k).startswith("goog-")}
        if isinstance(labels, dict)
        else {}
    )
    return {"trainingInput": normal, "labels": kept}


def _normalise(value: Any, schema: dict[str, Any], schemas: dict[str, Any]) -> Any:
    """``value`` with Google's alternative encodings made canonical and empty values dropped."""
    if "$ref" in schema:
        schema = schemas[schema["$ref"]]
    kind, fmt = schema.get("type"), schema.get("format")
    if fmt in ("int32", "int64", "uint32", "uint64"):
        number = as_int(value)
        return value if number is None else number
    if kind == "number" and isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            return value
    if fmt == "google-duration" and isinstance(value, str):
        try:
            return format_duration(value)
        except ValueError:
            return value
    if kind == "array" and isinstance(value, list | tuple):
        return [_normalise(item, schema.get("items", {}), schemas) for item in value]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties") or {}
        out: dict[str, Any] = {}
        for key, item in value.items():
            prop = properties.get(key, extra)
            if prop.get("readOnly"):
                continue
            normal = _normalise(item, prop, schemas)
            if normal is None or normal == [] or normal == {}:
                continue
            out[key] = normal
        return out
    return value
