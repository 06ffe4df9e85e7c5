"""Vertex AI -> the neutral job view: a CustomJob / HyperparameterTuningJob resource in the ml v1 Job shape.

``from_vertex_job`` prefers the trainingInput ``to_vertex_job`` embedded in pool 0's environment and
otherwise rebuilds it from the worker pools and study spec (jobs this provider did not create). Pure logic.
"""

from __future__ import annotations

import json
from typing import Any

from .durations import format_duration
from .results import DEFAULT_METRIC_TAG
from .rules import JOB_ID_RE, as_int
from .vertex_names import (
    CUSTOM_JOBS,
    MAX_WAIT_LABEL,
    ROLES,
    SCALE_TYPES,
    SCHEMAS,
    TRAINING_INPUT_ENV,
    TUNING_JOBS,
    VERTEX_JOB_ID_LABEL,
    vertex_label_value,
    vertex_state,
)

__all__ = ["from_vertex_job"]

# Vertex Trial.state -> ml v1 HyperparameterOutput.state.
_TRIAL_STATES = {
    "STATE_UNSPECIFIED": "STATE_UNSPECIFIED",
    "REQUESTED": "QUEUED",
    "ACTIVE": "RUNNING",
    "STOPPING": "CANCELLING",
    "SUCCEEDED": "SUCCEEDED",
    "INFEASIBLE": "FAILED",
}


def from_vertex_job(resource: dict[str, Any], kind: str) -> dict[str, Any]:
    """The neutral job view (ml v1 Job shape) of a Vertex CustomJob or HyperparameterTuningJob resource.

    ``kind`` is "customJobs" or "hyperparameterTuningJobs". Adds ``vertexName`` (the resource name) and
    ``vertexState`` (the original JobState) to the ml v1 fields.
    """
    if kind not in SCHEMAS:
        raise ValueError(f"kind must be {CUSTOM_JOBS!r} or {TUNING_JOBS!r}, got {kind!r}")
    labels = dict(resource.get("labels") or {})
    label_id = labels.pop(VERTEX_JOB_ID_LABEL, None)
    max_wait = labels.pop(MAX_WAIT_LABEL, None)
    name = resource.get("name") or ""
    state = resource.get("state") or "JOB_STATE_UNSPECIFIED"
    view: dict[str, Any] = {
        "jobId": _job_id(resource.get("displayName"), label_id, name),
        "state": vertex_state(state),
        "vertexState": state,
        "vertexName": name,
        "labels": labels,
    }
    for field in ("createTime", "startTime", "endTime"):
        if resource.get(field):
            view[field] = resource[field]
    message = (resource.get("error") or {}).get("message")
    if message:
        view["errorMessage"] = message
    elif view["state"] == "FAILED":
        view["errorMessage"] = f"the Vertex AI job ended in {state}"

    tuning = kind == TUNING_JOBS
    spec = resource.get("trialJobSpec" if tuning else "jobSpec") or {}
    training_input = _embedded_training_input(spec)
    if training_input is None:
        training_input = _training_input(spec, resource, name, max_wait)
    view["trainingInput"] = training_input
    if tuning:
        hyper = training_input.get("hyperparameters") or {}
        view["trainingOutput"] = _tuning_output(resource, hyper.get("hyperparameterMetricTag") or DEFAULT_METRIC_TAG)
    return view


def _job_id(display_name: Any, label_id: Any, name: str) -> str:
    """The user's jobId: the displayName when it is one (the label is lowercased and cut to 63 chars)."""
    if isinstance(display_name, str) and JOB_ID_RE.match(display_name):
        if label_id is None or vertex_label_value(display_name) == label_id:
            return display_name
    if isinstance(label_id, str) and label_id:
        return label_id
    if isinstance(display_name, str) and display_name:
        return display_name
    return name.rsplit("/", 1)[-1]


def _embedded_training_input(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The trainingInput ``to_vertex_job`` stored in pool 0's environment, if present and readable."""
    pools = spec.get("workerPoolSpecs") or []
    first = pools[0] if pools else {}
    code = first.get("pythonPackageSpec") or first.get("containerSpec") or {}
    for var in code.get("env") or []:
        if var.get("name") == TRAINING_INPUT_ENV:
            try:
                value = json.loads(var.get("value") or "")
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def _training_input(spec: dict[str, Any], resource: dict[str, Any], name: str, max_wait: Any) -> dict[str, Any]:
    """The ml v1 trainingInput reconstructed from a Vertex job spec (for jobs not created by this provider)."""
    ti: dict[str, Any] = {}
    parts = name.split("/")
    if len(parts) > 3 and parts[2] == "locations":
        ti["region"] = parts[3]
    job_dir = (spec.get("baseOutputDirectory") or {}).get("outputUriPrefix")
    if job_dir:
        ti["jobDir"] = job_dir
    pools = list(spec.get("workerPoolSpecs") or [])
    if pools:
        ti["scaleTier"] = "CUSTOM"
    for index, pool in enumerate(pools[:4]):
        if not pool:
            continue
        machine = pool.get("machineSpec") or {}
        config: dict[str, Any] = {}
        if machine.get("acceleratorType"):
            config["acceleratorConfig"] = {
                "type": machine["acceleratorType"],
                "count": str(machine.get("acceleratorCount", 1)),
            }
        if pool.get("diskSpec"):
            config["diskConfig"] = dict(pool["diskSpec"])
        container = pool.get("containerSpec") or {}
        if container.get("imageUri"):
            config["imageUri"] = container["imageUri"]
            if container.get("command"):
                config["containerCommand"] = list(container["command"])
        if index == 0:
            ti["masterType"] = machine.get("machineType")
            package = pool.get("pythonPackageSpec") or {}
            if package:
                ti["packageUris"] = list(package.get("packageUris") or [])
                ti["pythonModule"] = package.get("pythonModule")
            args = _without_job_dir(list(package.get("args") or container.get("args") or []), job_dir)
            if args:
                ti["args"] = args
            if config:
                ti["masterConfig"] = config
        else:
            type_field, count_field, config_field = ROLES[index - 1]
            ti[type_field] = machine.get("machineType")
            ti[count_field] = str(pool.get("replicaCount", "1"))
            if config:
                ti[config_field] = config
    scheduling: dict[str, Any] = {}
    timeout = (spec.get("scheduling") or {}).get("timeout")
    if timeout:
        scheduling["maxRunningTime"] = format_duration(timeout)
    if max_wait:
        scheduling["maxWaitTime"] = format_duration(max_wait)
    if scheduling:
        ti["scheduling"] = scheduling
    for field in ("serviceAccount", "network", "enableWebAccess"):
        if spec.get(field) is not None:
            ti[field] = spec[field]
    kms = (resource.get("encryptionSpec") or {}).get("kmsKeyName")
    if kms:
        ti["encryptionConfig"] = {"kmsKeyName": kms}
    if resource.get("studySpec"):
        ti["hyperparameters"] = _hyperparameters(resource)
    return ti


def _without_job_dir(args: list[str], job_dir: str | None) -> list[str]:
    if job_dir and args[-2:] == ["--job-dir", job_dir]:
        return args[:-2]
    return args


def _hyperparameters(resource: dict[str, Any]) -> dict[str, Any]:
    study = resource.get("studySpec") or {}
    metric = (study.get("metrics") or [{}])[0]
    hyper: dict[str, Any] = {
        "goal": metric.get("goal") or "MAXIMIZE",
        "hyperparameterMetricTag": metric.get("metricId") or DEFAULT_METRIC_TAG,
        "maxTrials": resource.get("maxTrialCount", 1),
        "maxParallelTrials": resource.get("parallelTrialCount", 1),
        "params": [_param(spec) for spec in study.get("parameters") or []],
    }
    if resource.get("maxFailedTrialCount") is not None:
        hyper["maxFailedTrials"] = resource["maxFailedTrialCount"]
    if study.get("algorithm"):
        hyper["algorithm"] = study["algorithm"]
    if any(study.get(k) for k in ("medianAutomatedStoppingSpec", "decayCurveStoppingSpec", "convexAutomatedStoppingSpec")):
        hyper["enableTrialEarlyStopping"] = True
    return hyper


def _param(spec: dict[str, Any]) -> dict[str, Any]:
    param: dict[str, Any] = {"parameterName": spec.get("parameterId")}
    if "doubleValueSpec" in spec:
        values = spec["doubleValueSpec"]
        param.update(type="DOUBLE", minValue=values.get("minValue"), maxValue=values.get("maxValue"))
    elif "integerValueSpec" in spec:
        values = spec["integerValueSpec"]
        param.update(type="INTEGER", minValue=as_int(values.get("minValue")), maxValue=as_int(values.get("maxValue")))
    elif "categoricalValueSpec" in spec:
        param.update(type="CATEGORICAL", categoricalValues=list(spec["categoricalValueSpec"].get("values") or []))
    elif "discreteValueSpec" in spec:
        param.update(type="DISCRETE", discreteValues=list(spec["discreteValueSpec"].get("values") or []))
    if spec.get("scaleType") in SCALE_TYPES:
        param["scaleType"] = spec["scaleType"]
    return param


def _tuning_output(resource: dict[str, Any], metric_tag: str) -> dict[str, Any]:
    integer_params = {
        p.get("parameterId")
        for p in (resource.get("studySpec") or {}).get("parameters") or []
        if "integerValueSpec" in p
    }
    trials = [_trial(trial, metric_tag, integer_params) for trial in resource.get("trials") or []]
    return {
        "isHyperparameterTuningJob": True,
        "completedTrialCount": str(sum(1 for t in trials if t["state"] == "SUCCEEDED")),
        "hyperparameterMetricTag": metric_tag,
        "trials": trials,
    }


def _trial(trial: dict[str, Any], metric_tag: str, integer_params: set[Any]) -> dict[str, Any]:
    state = trial.get("state") or "STATE_UNSPECIFIED"
    out: dict[str, Any] = {
        "trialId": str(trial.get("id", "")),
        "state": _TRIAL_STATES.get(state, "STATE_UNSPECIFIED"),
        "hyperparameters": {
            str(p.get("parameterId")): _parameter_value(p.get("value"), p.get("parameterId") in integer_params)
            for p in trial.get("parameters") or []
        },
    }
    if state == "STOPPING":
        out["isTrialStoppedEarly"] = True
    for field in ("startTime", "endTime"):
        if trial.get(field):
            out[field] = trial[field]
    measurement = trial.get("finalMeasurement") or {}
    metrics = measurement.get("metrics") or []
    chosen = next((m for m in metrics if m.get("metricId") == metric_tag), metrics[0] if metrics else None)
    if chosen is not None and chosen.get("value") is not None:
        out["finalMetric"] = {
            "trainingStep": str(measurement.get("stepCount", "0")),
            "objectiveValue": chosen["value"],
        }
    return out


def _parameter_value(value: Any, integer: bool) -> str:
    """A trial parameter as ml v1 shows it: a string ("32", "0.01", "adam")."""
    if integer and isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, bool) else str(value)
