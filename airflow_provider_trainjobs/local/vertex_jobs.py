"""Vertex AI (``aiplatform`` v1) jobs on the local service's engine: request checks, the engine record, the resource.

A CustomJob or HyperparameterTuningJob is stored as an engine job record (the ml v1 Job shape the engine,
the tuning runner and the console page already work on) whose ``jobId`` is the server-assigned numeric id,
plus a ``vertex`` section holding what only Vertex has: the kind, the location, the original request
(echoed back), and the worker pools as the replicas will run them. ``trainingInput`` is derived from the
Vertex spec itself (``spec.vertex.from_vertex_job`` with the provider's ``TRAINJOBS_TRAINING_INPUT`` copy
removed), so any valid Vertex body runs, whoever created it. ``to_resource`` turns a record back into the
Vertex resource: JobState names, ``error{code, message}``, trials in Vertex's shape.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from airflow_provider_trainjobs.local.validation import InvalidRequest

CUSTOM_JOBS = "customJobs"
TUNING_JOBS = "hyperparameterTuningJobs"
SCHEMAS = {CUSTOM_JOBS: "GoogleCloudAiplatformV1CustomJob", TUNING_JOBS: "GoogleCloudAiplatformV1HyperparameterTuningJob"}
# Fields the server owns: ignored on input (as Google does) and never echoed from the request.
OUTPUT_ONLY = ("name", "state", "createTime", "startTime", "endTime", "updateTime", "error", "trials",
               "webAccessUris", "satisfiesPzs", "satisfiesPzi")
# Engine state -> Vertex JobState.
JOB_STATES = {
    "QUEUED": "JOB_STATE_QUEUED",
    "PREPARING": "JOB_STATE_PENDING",
    "RUNNING": "JOB_STATE_RUNNING",
    "SUCCEEDED": "JOB_STATE_SUCCEEDED",
    "FAILED": "JOB_STATE_FAILED",
    "CANCELLING": "JOB_STATE_CANCELLING",
    "CANCELLED": "JOB_STATE_CANCELLED",
}
# Engine trial state -> Vertex Trial.state (STATE_UNSPECIFIED, REQUESTED, ACTIVE, STOPPING, SUCCEEDED, INFEASIBLE).
TRIAL_STATES = {"QUEUED": "REQUESTED", "RUNNING": "ACTIVE", "SUCCEEDED": "SUCCEEDED", "FAILED": "INFEASIBLE",
                "CANCELLED": "INFEASIBLE", "CANCELLING": "STOPPING"}
# Pool index -> TF_CONFIG task type (Vertex always says chief for the primary; evaluators stay out of the cluster).
POOL_TASK_TYPES = ("chief", "worker", "ps", "evaluator")
TRAINING_INPUT_ENV = "TRAINJOBS_TRAINING_INPUT"
_GS = re.compile(r"gs://([a-z0-9][a-z0-9._-]{1,220})")


def _int(value: Any, default: int = 0) -> int:
    if value in (None, ""):
        return default
    return int(float(value))


def validate_request(kind: str, body: Any) -> None:
    """Raise InvalidRequest naming the field when ``body`` is not a CustomJob / HyperparameterTuningJob we can run."""
    from airflow_provider_trainjobs.spec.schema import validate_resource

    if not isinstance(body, dict):
        raise InvalidRequest(f"request body: must be a JSON object holding a {SCHEMAS[kind]}")
    errors = validate_resource("aiplatform.v1", SCHEMAS[kind], body)
    if errors:
        raise InvalidRequest(errors[0])
    if not body.get("displayName"):
        raise InvalidRequest("displayName: is required")
    if kind == TUNING_JOBS:
        spec_field = "trialJobSpec"
        study = body.get("studySpec") or {}
        if not study:
            raise InvalidRequest("studySpec: is required")
        if len(study.get("metrics") or []) != 1:
            raise InvalidRequest("studySpec.metrics: exactly one metric is supported by the local service")
        if not (study.get("metrics") or [{}])[0].get("metricId"):
            raise InvalidRequest("studySpec.metrics[0].metricId: is required")
        if not study.get("parameters"):
            raise InvalidRequest("studySpec.parameters: must list at least one parameter")
        for index, param in enumerate(study["parameters"]):
            specs = [k for k in ("doubleValueSpec", "integerValueSpec", "categoricalValueSpec", "discreteValueSpec")
                     if k in param]
            if not param.get("parameterId"):
                raise InvalidRequest(f"studySpec.parameters[{index}].parameterId: is required")
            if len(specs) != 1:
                raise InvalidRequest(f"studySpec.parameters[{param['parameterId']}]: needs exactly one of"
                                     " doubleValueSpec, integerValueSpec, categoricalValueSpec, discreteValueSpec")
        for field in ("maxTrialCount", "parallelTrialCount"):
            if _int(body.get(field)) <= 0:
                raise InvalidRequest(f"{field}: must be greater than 0")
    else:
        spec_field = "jobSpec"
    spec = body.get(spec_field)
    if not spec:
        raise InvalidRequest(f"{spec_field}: is required")
    pools = spec.get("workerPoolSpecs") or []
    if not pools or not pools[0]:
        raise InvalidRequest(f"{spec_field}.workerPoolSpecs[0]: the primary worker pool is required")
    if len(pools) > 4:
        raise InvalidRequest(f"{spec_field}.workerPoolSpecs: at most 4 worker pools (primary, workers, parameter"
                             " servers, evaluators)")
    for index, pool in enumerate(pools):
        if not pool:
            continue
        where = f"{spec_field}.workerPoolSpecs[{index}]"
        count = _int(pool.get("replicaCount"), 1 if index == 0 else 0)
        if index == 0 and count != 1:
            raise InvalidRequest(f"{where}.replicaCount: the primary pool runs exactly 1 replica; got {count}")
        if count < 1:
            raise InvalidRequest(f"{where}.replicaCount: must be at least 1")
        python, container = pool.get("pythonPackageSpec"), pool.get("containerSpec")
        if bool(python) == bool(container):
            raise InvalidRequest(f"{where}: needs exactly one of pythonPackageSpec and containerSpec")
        if python:
            for field in ("executorImageUri", "pythonModule"):
                if not python.get(field):
                    raise InvalidRequest(f"{where}.pythonPackageSpec.{field}: is required")
            if not python.get("packageUris"):
                raise InvalidRequest(f"{where}.pythonPackageSpec.packageUris: must list at least one package")
            for position, uri in enumerate(python["packageUris"]):
                if not str(uri).startswith("gs://"):
                    raise InvalidRequest(f"{where}.pythonPackageSpec.packageUris[{position}]: {uri!r} is not a"
                                         " gs:// URI")
        elif not container.get("imageUri"):
            raise InvalidRequest(f"{where}.containerSpec.imageUri: is required")
    timeout = (spec.get("scheduling") or {}).get("timeout")
    if timeout:
        from airflow_provider_trainjobs.spec import parse_duration

        try:
            if parse_duration(timeout) <= 0:
                raise ValueError("must be positive")
        except ValueError as err:
            raise InvalidRequest(f"{spec_field}.scheduling.timeout: {err}") from None


def _pools(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The worker pools as the replicas run them (empty pools dropped, each with its index)."""
    pools: list[dict[str, Any]] = []
    for index, pool in enumerate(spec.get("workerPoolSpecs") or []):
        if not pool:
            continue
        python = pool.get("pythonPackageSpec") or {}
        container = pool.get("containerSpec") or {}
        code = python or container
        pools.append({
            "index": index,
            "replicaCount": _int(pool.get("replicaCount"), 1),
            "pythonModule": python.get("pythonModule"),
            "packageUris": list(python.get("packageUris") or []),
            "executorImageUri": python.get("executorImageUri"),
            "imageUri": container.get("imageUri"),
            "command": [str(c) for c in container.get("command") or []],
            "args": [str(a) for a in code.get("args") or []],
            "env": {str(e.get("name")): str(e.get("value", "")) for e in code.get("env") or [] if e.get("name")},
        })
    return pools


def _without_training_input_env(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    for pool in spec.get("workerPoolSpecs") or []:
        for key in ("pythonPackageSpec", "containerSpec"):
            code = (pool or {}).get(key)
            if code and code.get("env"):
                code["env"] = [e for e in code["env"] if e.get("name") != TRAINING_INPUT_ENV]
    return spec


def buckets_of(vertex: dict[str, Any]) -> list[str]:
    """Every bucket the job names: output directory, packages, args and env values of every pool."""
    texts = [str((vertex.get("baseOutputDirectory") or {}).get("outputUriPrefix") or "")]
    for pool in vertex.get("pools") or []:
        texts += pool["packageUris"] + pool["args"] + [v for k, v in pool["env"].items() if k != TRAINING_INPUT_ENV]
    found: list[str] = []
    for text in texts:
        for bucket in _GS.findall(text):
            if bucket not in found:
                found.append(bucket)
    return found


def new_record(kind: str, project: str, location: str, job_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """The engine job record for a validated create request."""
    from airflow_provider_trainjobs.spec.vertex import from_vertex_job

    request = {k: copy.deepcopy(v) for k, v in body.items() if k not in OUTPUT_ONLY}
    spec_field = "trialJobSpec" if kind == TUNING_JOBS else "jobSpec"
    name = f"projects/{project}/locations/{location}/{kind}/{job_id}"
    derived = dict(request, name=name)
    derived[spec_field] = _without_training_input_env(request[spec_field])
    training = from_vertex_job(derived, kind)["trainingInput"]
    # Only Vertex's own fields are enforced: the provider's maxWaitTime label is its client's business.
    scheduling = training.get("scheduling") or {}
    scheduling.pop("maxWaitTime", None)
    if not scheduling:
        training.pop("scheduling", None)
    spec = request[spec_field]
    pools = _pools(spec)
    vertex = {
        "kind": kind,
        "location": location,
        "name": name,
        "request": request,
        "jobSpec": spec,
        "pools": pools,
        "baseOutputDirectory": spec.get("baseOutputDirectory") or {},
    }
    vertex["buckets"] = buckets_of(vertex)
    return {"jobId": job_id, "labels": dict(request.get("labels") or {}), "trainingInput": training, "vertex": vertex}


def container_pool(vertex: dict[str, Any]) -> dict[str, Any] | None:
    """The first pool that runs a custom container, if any."""
    return next((p for p in vertex.get("pools") or [] if p.get("imageUri")), None)


def package_uris(vertex: dict[str, Any]) -> list[str]:
    """Every pool's packageUris, first occurrence first (installed once for the job)."""
    uris: list[str] = []
    for pool in vertex.get("pools") or []:
        uris += [u for u in pool["packageUris"] if u not in uris]
    return uris


def _error_code(state: str, message: str) -> int:
    """google.rpc.Code of a finished job's error: 1 CANCELLED, 4 DEADLINE_EXCEEDED, 3 for trainer failures."""
    if "scheduling.timeout" in message or "exceeded" in message:
        return 4
    if state == "CANCELLED":
        return 1
    if message.startswith("The local service"):
        return 13
    return 3


def _trial(trial: dict[str, Any], tag: str, params: dict[str, dict[str, Any]]) -> dict[str, Any]:
    state = trial.get("state") or "RUNNING"
    out: dict[str, Any] = {
        "id": str(trial.get("trialId")),
        "state": TRIAL_STATES.get(state, "STATE_UNSPECIFIED"),
        "parameters": [
            {"parameterId": name, "value": _parameter_value(params.get(name) or {}, value)}
            for name, value in (trial.get("hyperparameters") or {}).items()
        ],
    }
    for field in ("startTime", "endTime"):
        if trial.get(field):
            out[field] = trial[field]
    final = trial.get("finalMetric")
    if final:
        out["finalMeasurement"] = {"stepCount": str(final.get("trainingStep", "0")),
                                   "metrics": [{"metricId": tag, "value": float(final["objectiveValue"])}]}
    every = trial.get("allMetrics") or []
    if every:
        out["measurements"] = [{"stepCount": str(m.get("trainingStep", "0")),
                                "metrics": [{"metricId": tag, "value": float(m["objectiveValue"])}]} for m in every]
    if state in ("FAILED", "CANCELLED"):
        out["infeasibleReason"] = "The trial was cancelled." if state == "CANCELLED" else "The trial failed."
    return out


def _parameter_value(spec: dict[str, Any], value: str) -> Any:
    """A trial value as Vertex shows it: a number for numeric parameters, a string for categorical ones."""
    if "categoricalValueSpec" in spec:
        return value
    number = float(value)
    if "integerValueSpec" in spec:
        return int(number)
    return number


def to_resource(record: dict[str, Any], update_time: str | None = None) -> dict[str, Any]:
    """The Vertex resource for an engine record (what get/list/create answer)."""
    vertex = record["vertex"]
    kind = vertex["kind"]
    resource: dict[str, Any] = {"name": vertex["name"]}
    resource.update(copy.deepcopy(vertex["request"]))
    state = record.get("state") or "QUEUED"
    resource["state"] = JOB_STATES.get(state, "JOB_STATE_UNSPECIFIED")
    resource["labels"] = dict(record.get("labels") or {})
    for field in ("createTime", "startTime", "endTime"):
        if record.get(field):
            resource[field] = record[field]
    resource["updateTime"] = update_time or record.get("endTime") or record.get("startTime") or record["createTime"]
    message = record.get("errorMessage")
    if message and state in ("FAILED", "CANCELLED", "CANCELLING"):
        resource["error"] = {"code": _error_code(state, message), "message": message}
    if kind == TUNING_JOBS:
        study = vertex["request"].get("studySpec") or {}
        tag = (study.get("metrics") or [{}])[0].get("metricId") or ""
        params = {p.get("parameterId"): p for p in study.get("parameters") or []}
        trials = ((record.get("trainingOutput") or {}).get("trials")) or []
        if trials:
            resource["trials"] = [_trial(t, tag, params) for t in trials]
    return resource


def filter_view(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource plus the snake_case names Vertex's list filter uses (display_name, create_time, ...)."""
    view = dict(resource)
    for camel, snake in (("displayName", "display_name"), ("createTime", "create_time"),
                         ("updateTime", "update_time"), ("startTime", "start_time"), ("endTime", "end_time")):
        if camel in resource:
            view[snake] = resource[camel]
    return view
