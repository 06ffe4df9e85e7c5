"""ml v1 -> Vertex AI: the CustomJob / HyperparameterTuningJob body for the seeds' Job resource.

``to_vertex_job`` refuses, naming the field, whatever has no Vertex equivalent, then maps the scale tier
or custom machines onto worker pools and the hyperparameter spec onto a study spec. Pure logic: no
network, no Google client imports.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from .durations import format_duration, parse_duration
from .errors import InvalidJobSpec
from .machines import (
    RUNTIME_PYTHON_VERSION,
    RUNTIME_VERSIONS,
    SCALE_TIERS,
    Machine,
    executor_image,
    gpu_machine_problem,
    machine_for,
    vertex_accelerator_types,
)
from .results import DEFAULT_METRIC_TAG
from .rules import MAX_LABELS, as_int
from .schema import validate_resource
from .validation import validate_job
from .vertex_names import (
    MAX_WAIT_LABEL,
    ROLES,
    SCALE_TYPES,
    SCHEMAS,
    TRAINING_INPUT_ENV,
    TUNING_JOBS,
    VERTEX_JOB_ID_LABEL,
    vertex_kind,
    vertex_label_value,
)

# The logger keeps the name it had before the split, so logging configuration aimed at it still applies.
log = logging.getLogger("airflow_provider_trainjobs.spec.vertex")

__all__ = ["to_vertex_job"]

Problems = list[tuple[str, str]]


def to_vertex_job(job: dict[str, Any], *, executor_image_uri: str | None = None) -> dict[str, Any]:
    """The Vertex CustomJob (or HyperparameterTuningJob, see ``vertex_kind``) body for an ml v1 Job.

    ``executor_image_uri`` chooses the prebuilt container for Python-package jobs; without it the image is
    derived from runtimeVersion. Raises InvalidJobSpec naming the field for input that breaks the ml v1
    rules or has no Vertex equivalent; the result is checked against the aiplatform v1 discovery schema.
    """
    validate_job(job, backend="vertex")
    ti: dict[str, Any] = job["trainingInput"]
    problems = _untranslatable(job, executor_image_uri)
    if problems:
        field, rule = problems[0]
        raise InvalidJobSpec(field, rule, problems)

    job_spec = _custom_job_spec(ti, executor_image_uri)
    kind = vertex_kind(job)
    body: dict[str, Any] = {"displayName": job["jobId"], "labels": _labels(job)}
    if kind == TUNING_JOBS:
        hyper = ti["hyperparameters"]
        body["studySpec"] = _study_spec(hyper)
        body["maxTrialCount"] = as_int(hyper.get("maxTrials", 1))
        body["parallelTrialCount"] = as_int(hyper.get("maxParallelTrials", 1))
        if hyper.get("maxFailedTrials") is not None:
            body["maxFailedTrialCount"] = as_int(hyper["maxFailedTrials"])
        body["trialJobSpec"] = job_spec
    else:
        body["jobSpec"] = job_spec
    kms = (ti.get("encryptionConfig") or {}).get("kmsKeyName")
    if kms:
        body["encryptionSpec"] = {"kmsKeyName": kms}

    errors = validate_resource("aiplatform.v1", SCHEMAS[kind], body, reject_read_only=True)
    if errors:
        found = [(f"(vertex {kind} body) {path}", rule) for path, _, rule in (e.partition(": ") for e in errors)]
        raise InvalidJobSpec(found[0][0], found[0][1], found)
    return body


def _untranslatable(job: dict[str, Any], executor_image_uri: str | None) -> Problems:
    """Every field that has no Vertex AI equivalent, as (field, why and what to do instead)."""
    ti = job["trainingInput"]
    problems: Problems = []
    tier = ti.get("scaleTier") or "BASIC"
    if tier == "BASIC_TPU":
        problems.append(("trainingInput.scaleTier", "BASIC_TPU has no Vertex AI equivalent; use CUSTOM with "
                         "Compute Engine machine types and GPUs, or run this job on the ai-platform backend"))
    elif tier == "CUSTOM":
        for field in ("masterType", *(role[0] for role in ROLES)):
            name = ti.get(field)
            if name and machine_for(name) is None:
                problems.append((f"trainingInput.{field}", f"{name!r} has no certain Vertex AI equivalent; use a "
                                 "Compute Engine machine type such as 'n1-standard-8'"))
    for config_field in ("masterConfig", *(role[2] for role in ROLES)):
        config = ti.get(config_field) or {}
        accelerator = (config.get("acceleratorConfig") or {}).get("type")
        if isinstance(accelerator, str) and accelerator.startswith("TPU_"):
            gpus = (name for name in vertex_accelerator_types() if not name.startswith("TPU_"))
            problems.append((f"trainingInput.{config_field}.acceleratorConfig.type",
                             f"{accelerator} has no Vertex AI equivalent in this translation (TPUs attach "
                             "differently on Vertex); use a GPU: " + ", ".join(gpus)))
        if config.get("tpuTfVersion"):
            problems.append((f"trainingInput.{config_field}.tpuTfVersion", "TPU runtime versions have no Vertex "
                             "AI equivalent; remove it"))
    problems += _gpu_machine_problems(ti)
    if ti.get("useChiefInTfConfig") is False:
        problems.append(("trainingInput.useChiefInTfConfig", "Vertex AI always names the primary replica 'chief' "
                         "in TF_CONFIG; remove the field or set it to true"))
    priority = (ti.get("scheduling") or {}).get("priority")
    if priority is not None:
        problems.append(("trainingInput.scheduling.priority", "Vertex AI has no job priority; remove it"))
    if (ti.get("hyperparameters") or {}).get("resumePreviousJobId"):
        problems.append(("trainingInput.hyperparameters.resumePreviousJobId", "Vertex AI cannot resume a "
                         "tuning job from a previous one; remove it to start a new study"))
    if not _master_image(ti) and not executor_image_uri:
        problems += _runtime_problems(ti)
    labels = job.get("labels") or {}
    if VERTEX_JOB_ID_LABEL in labels and labels[VERTEX_JOB_ID_LABEL] != vertex_label_value(job["jobId"]):
        problems.append((f"labels.{VERTEX_JOB_ID_LABEL}", "is reserved: it carries the jobId on Vertex AI"))
    if MAX_WAIT_LABEL in labels:
        problems.append((f"labels.{MAX_WAIT_LABEL}", "is reserved: it carries scheduling.maxWaitTime on Vertex AI"))
    reserved = {VERTEX_JOB_ID_LABEL, MAX_WAIT_LABEL}
    room = MAX_LABELS - len(reserved)
    if len(set(labels) - reserved) > room:
        problems.append(("labels", f"at most {room} labels on Vertex AI: 2 of the {MAX_LABELS} carry the jobId "
                         "and maxWaitTime"))
    return problems


def _gpu_machine_problems(ti: dict[str, Any]) -> Problems:
    """A GPU given in ``acceleratorConfig`` that the pool's machine series cannot carry (spec/machines.py
    ``GPU_MACHINE_SERIES``: L4 needs G2, A100 A2, H100/H200 A3, the older GPUs N1), named by its field."""
    tier = ti.get("scaleTier") or "BASIC"
    if tier not in SCALE_TIERS and not (tier == "CUSTOM" and machine_for(str(ti.get("masterType") or ""))):
        return []  # an unknown tier or master type is reported on its own
    problems: Problems = []
    for index, role in enumerate(_tier_roles(ti)):
        if role is None:
            continue
        machine, _, config = role
        accelerator = (config.get("acceleratorConfig") or {}).get("type")
        why = gpu_machine_problem(machine.machine_type, accelerator) if isinstance(accelerator, str) else None
        if why:
            problems.append((f"trainingInput.{_CONFIG_NAMES[index]}.acceleratorConfig.type",
                             f"{why} ({_legacy_source(ti, index)}); pick a GPU that machine takes or a machine "
                             "type of the GPU's series (with scaleTier CUSTOM)"))
    return problems


def _runtime_problems(ti: dict[str, Any]) -> Problems:
    runtime = ti.get("runtimeVersion")
    known = ", ".join(RUNTIME_VERSIONS)
    if not runtime:
        return [("trainingInput.runtimeVersion", "required on Vertex AI to choose the prebuilt training "
                 f"container ({known}); or pass executor_image_uri")]
    if runtime not in RUNTIME_VERSIONS:
        return [("trainingInput.runtimeVersion", f"{runtime!r} has no certain Vertex AI prebuilt training "
                 f"container (known: {known}); pass executor_image_uri instead")]
    python = ti.get("pythonVersion")
    if python and python != RUNTIME_PYTHON_VERSION:
        return [("trainingInput.pythonVersion", f"{python!r}: the prebuilt container for runtime {runtime} runs "
                 f"Python {RUNTIME_PYTHON_VERSION}; pass executor_image_uri for another Python")]
    return []


def _master_image(ti: dict[str, Any]) -> str | None:
    image = (ti.get("masterConfig") or {}).get("imageUri")
    return image if isinstance(image, str) and image else None


def _custom_job_spec(ti: dict[str, Any], executor_image_uri: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"workerPoolSpecs": _worker_pools(ti, executor_image_uri)}
    scheduling = ti.get("scheduling") or {}
    if scheduling.get("maxRunningTime"):
        spec["scheduling"] = {"timeout": format_duration(scheduling["maxRunningTime"])}
    for field in ("serviceAccount", "network"):
        if ti.get(field):
            spec[field] = ti[field]
    if ti.get("jobDir"):
        spec["baseOutputDirectory"] = {"outputUriPrefix": ti["jobDir"]}
    if ti.get("enableWebAccess") is not None:
        spec["enableWebAccess"] = bool(ti["enableWebAccess"])
    return spec


def _tier_roles(ti: dict[str, Any]) -> list[tuple[Machine, int, dict[str, Any]] | None]:
    """(machine, replica count, ReplicaConfig) for the master, workers, parameter servers and evaluators."""
    tier = ti.get("scaleTier") or "BASIC"
    master_config = ti.get("masterConfig") or {}
    if tier != "CUSTOM":
        pools = SCALE_TIERS[tier]
        roles: list[tuple[Machine, int, dict[str, Any]] | None] = [(pools.master, 1, master_config)]
        roles.append((pools.worker, pools.worker_count, ti.get("workerConfig") or {}) if pools.worker else None)
        roles.append(
            (pools.parameter_server, pools.parameter_server_count, ti.get("parameterServerConfig") or {})
            if pools.parameter_server
            else None
        )
        roles.append(None)
        return roles
    master = machine_for(ti["masterType"])
    assert master is not None  # _untranslatable rejected unknown names
    roles = [(master, 1, master_config)]
    for type_field, count_field, config_field in ROLES:
        count = as_int(ti.get(count_field)) or 0
        machine = machine_for(ti[type_field]) if count > 0 and ti.get(type_field) else None
        roles.append((machine, count, ti.get(config_field) or {}) if machine else None)
    return roles


_CONFIG_NAMES = ("masterConfig", *(role[2] for role in ROLES))


def _legacy_source(ti: dict[str, Any], index: int) -> str:
    """What chose pool ``index``'s machine, for messages: "scaleTier BASIC_GPU" or "masterType complex_model_m_gpu"."""
    tier = ti.get("scaleTier") or "BASIC"
    if tier != "CUSTOM":
        return f"scaleTier {tier}"
    field = "masterType" if index == 0 else ROLES[index - 1][0]
    return f"{field} {ti.get(field)}"


def _worker_pools(ti: dict[str, Any], executor_image_uri: str | None) -> list[dict[str, Any]]:
    """Pool 0 = master, 1 = workers, 2 = parameter servers, 3 = evaluators; absent pools in between are {}."""
    job_dir_args = ["--job-dir", ti["jobDir"]] if ti.get("jobDir") else []
    master_image = _master_image(ti)
    pools: list[dict[str, Any]] = []
    for index, role in enumerate(_tier_roles(ti)):
        if role is None:
            pools.append({})
            continue
        machine, count, config = role
        machine_spec: dict[str, Any] = {"machineType": machine.machine_type}
        accelerator = config.get("acceleratorConfig") or {}
        if accelerator.get("type"):
            machine_spec["acceleratorType"] = accelerator["type"]  # validated against the aiplatform v1 enum
            machine_spec["acceleratorCount"] = as_int(accelerator.get("count", 1))
        elif machine.accelerator_type:
            machine_spec["acceleratorType"] = machine.accelerator_type
            machine_spec["acceleratorCount"] = machine.accelerator_count
            if vertex_accelerator_types().get(machine.accelerator_type):
                log.warning(
                    "trainingInput: %s maps to %s, which Vertex AI has deprecated (end of support); set "
                    "trainingInput.%s.acceleratorConfig (e.g. type NVIDIA_TESLA_T4) to choose a supported GPU",
                    _legacy_source(ti, index), machine.accelerator_type, _CONFIG_NAMES[index])
        pool: dict[str, Any] = {"machineSpec": machine_spec, "replicaCount": str(count)}
        disk = config.get("diskConfig") or {}
        if disk:
            pool["diskSpec"] = {k: (as_int(v) if k == "bootDiskSizeGb" else v) for k, v in disk.items()}
        image = config.get("imageUri") or master_image
        env = [{"name": TRAINING_INPUT_ENV, "value": json.dumps(ti, sort_keys=True)}] if index == 0 else []
        if image:
            container: dict[str, Any] = {"imageUri": image}
            if config.get("containerCommand"):
                container["command"] = list(config["containerCommand"])
            # The same command line the local ml v1 run gives the container: containerArgs, args, --job-dir.
            args = [*(config.get("containerArgs") or []), *ti.get("args", []), *job_dir_args]
            if args:
                container["args"] = args
            if env:
                container["env"] = env
            pool["containerSpec"] = container
        else:
            gpu = "acceleratorType" in machine_spec
            package: dict[str, Any] = {
                "executorImageUri": executor_image_uri
                or executor_image(ti["runtimeVersion"], gpu=gpu, region=ti.get("region")),
                "packageUris": list(ti["packageUris"]),
                "pythonModule": ti["pythonModule"],
            }
            args = [*ti.get("args", []), *job_dir_args]
            if args:
                package["args"] = args
            if env:
                package["env"] = env
            pool["pythonPackageSpec"] = package
        pools.append(pool)
    while pools and not pools[-1]:
        pools.pop()
    return pools


def _labels(job: dict[str, Any]) -> dict[str, str]:
    labels = dict(job.get("labels") or {})
    labels[VERTEX_JOB_ID_LABEL] = vertex_label_value(job["jobId"])
    max_wait = (job["trainingInput"].get("scheduling") or {}).get("maxWaitTime")
    if max_wait:
        labels[MAX_WAIT_LABEL] = f"{math.ceil(parse_duration(max_wait))}s"
    return labels


def _study_spec(hyper: dict[str, Any]) -> dict[str, Any]:
    goal = hyper.get("goal") or "MAXIMIZE"
    study: dict[str, Any] = {
        "metrics": [
            {
                "metricId": hyper.get("hyperparameterMetricTag") or DEFAULT_METRIC_TAG,
                "goal": "MAXIMIZE" if goal == "GOAL_TYPE_UNSPECIFIED" else goal,
            }
        ],
        "parameters": [_parameter_spec(param) for param in hyper.get("params", [])],
    }
    if hyper.get("algorithm"):
        study["algorithm"] = hyper["algorithm"]
    if hyper.get("enableTrialEarlyStopping"):
        # AI Platform stopped unpromising trials automatically; Vertex's median rule is the equivalent.
        study["medianAutomatedStoppingSpec"] = {"useElapsedDuration": False}
    return study


def _parameter_spec(param: dict[str, Any]) -> dict[str, Any]:
    kind = param["type"]
    spec: dict[str, Any] = {"parameterId": param["parameterName"]}
    if kind == "DOUBLE":
        spec["doubleValueSpec"] = {"minValue": float(param["minValue"]), "maxValue": float(param["maxValue"])}
    elif kind == "INTEGER":
        spec["integerValueSpec"] = {
            "minValue": str(int(float(param["minValue"]))),
            "maxValue": str(int(float(param["maxValue"]))),
        }
    elif kind == "CATEGORICAL":
        spec["categoricalValueSpec"] = {"values": list(param["categoricalValues"])}
    else:
        spec["discreteValueSpec"] = {"values": [float(v) for v in param["discreteValues"]]}
    if param.get("scaleType") in SCALE_TYPES and kind != "CATEGORICAL":
        spec["scaleType"] = param["scaleType"]
    return spec
