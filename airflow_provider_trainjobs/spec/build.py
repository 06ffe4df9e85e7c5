"""build_training_job: the Job body ``gcloud ai-platform jobs submit training`` would send.

``config`` (gcloud's ``--config``: a YAML/JSON file or a dict holding a Job resource) is read
first; then every argument that is not None replaces its whole field. Nothing is deep-merged and
an unset argument never erases a value from the file.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from .config_file import read_config_file
from .durations import format_duration
from .errors import InvalidJobSpec
from .limits import MAX_INT_DIGITS, MAX_VALUES, check_shape, int_digits, show
from .validation import validate_job

__all__ = ["build_training_job", "load_config"]

Duration = str | int | float | timedelta

# TrainingInput keys commonly put at the top of a config by mistake (gcloud wants a Job resource).
_TRAINING_INPUT_KEYS = {
    "scaleTier",
    "masterType",
    "workerType",
    "parameterServerType",
    "workerCount",
    "parameterServerCount",
    "packageUris",
    "pythonModule",
    "args",
    "region",
    "jobDir",
    "runtimeVersion",
    "pythonVersion",
    "scheduling",
    "hyperparameters",
    "masterConfig",
}


def load_config(path_or_dict: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """A Job resource from a YAML/JSON file path or a mapping, as a fresh dict (the input is not changed).

    Files past 1 MiB, not UTF-8, nested too deep or expanding too far are refused (see config_file.py).
    """
    if isinstance(path_or_dict, Mapping):
        check_shape(dict(path_or_dict))  # before deepcopy, which recurses; names the Job field
        data: Any = copy.deepcopy(dict(path_or_dict))
        source = "the config dict"
    elif isinstance(path_or_dict, str | os.PathLike):
        path = Path(path_or_dict)
        source = f"config file {show(str(path), 200)}"
        data = read_config_file(path)
        try:
            check_shape(data)
        except InvalidJobSpec as exc:
            raise InvalidJobSpec("config", f"{source}: {exc.field}: {exc.rule}") from None
    else:
        raise InvalidJobSpec(
            "config", f"must be a path to a YAML/JSON file or a dict, got {type(path_or_dict).__name__}"
        )
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidJobSpec(
            "config", f"{source} must hold a Job resource (a mapping), got {type(data).__name__}"
        )
    misplaced = sorted(key for key in _TRAINING_INPUT_KEYS if key in data)
    if misplaced and "trainingInput" not in data:
        raise InvalidJobSpec(
            misplaced[0],
            f"{source} holds a Job resource: put {', '.join(misplaced)} under 'trainingInput:'",
        )
    return data


def _strings(value: Sequence[Any], field: str, argument: str) -> list[str]:
    """A list of strings from a list/tuple argument; numbers are written out, a lone string is an error."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidJobSpec(
            field, f"{argument} must be a list of strings, got {type(value).__name__} {show(value)}"
        )
    if len(value) > MAX_VALUES:
        raise InvalidJobSpec(field, f"{argument} has {len(value)} items; at most {MAX_VALUES} are taken")
    out: list[str] = []
    for item in value:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, float) or (
            isinstance(item, int) and not isinstance(item, bool) and int_digits(item) <= MAX_INT_DIGITS
        ):
            out.append(str(item))
        else:
            raise InvalidJobSpec(
                field, f"{argument} items must be strings, got {type(item).__name__} {show(item)}"
            )
    return out


def _given(value: Any) -> bool:
    """An argument that counts as given: not None and not an empty list/tuple/string."""
    return value is not None and not (isinstance(value, list | tuple | str) and len(value) == 0)


def _duration(value: Duration, field: str) -> str:
    try:
        return format_duration(value)
    except ValueError as exc:
        raise InvalidJobSpec(field, str(exc)) from exc


def _scale_tier(value: str) -> str:
    """gcloud spelling ("basic", "basic-gpu") or the enum name ("BASIC_GPU")."""
    return value.strip().upper().replace("-", "_") if isinstance(value, str) else value


def build_training_job(
    job_id: str | None,
    *,
    module_name: str | None = None,
    package_uris: Sequence[str] = (),
    region: str | None = None,
    job_dir: str | None = None,
    scale_tier: str | None = None,
    master_type: str | None = None,
    worker_type: str | None = None,
    parameter_server_type: str | None = None,
    worker_count: int | None = None,
    parameter_server_count: int | None = None,
    runtime_version: str | None = None,
    python_version: str | None = None,
    max_wait_time: Duration | None = None,
    max_running_time: Duration | None = None,
    service_account: str | None = None,
    master_image_uri: str | None = None,
    labels: Mapping[str, str] | None = None,
    user_args: Sequence[str] = (),
    hyperparameters: Mapping[str, Any] | None = None,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    backend: str = "ai-platform",
) -> dict[str, Any]:
    """The validated ml v1 Job body for these gcloud-style arguments; raises InvalidJobSpec naming the field.

    ``backend`` is where the job will run: "vertex" also accepts Vertex AI's accelerator types.

    ``job_id`` None keeps the config's jobId. Empty ``package_uris``/``user_args`` mean "not given".
    Durations take "3600s", seconds or a timedelta and are written as "<n>s".
    """
    job = load_config(config) if config is not None else {}
    if job_id is not None:
        job["jobId"] = job_id
    if labels is not None:
        if not isinstance(labels, Mapping):
            raise InvalidJobSpec(
                "labels", f"must be a mapping of label key to value, got {type(labels).__name__}"
            )
        job["labels"] = dict(labels)

    training_input = job.setdefault("trainingInput", {})
    if training_input is None:
        training_input = job["trainingInput"] = {}
    if not isinstance(training_input, dict):
        raise InvalidJobSpec("trainingInput", f"must be a mapping, got {type(training_input).__name__}")

    replacements: dict[str, Any] = {
        "scaleTier": _scale_tier(scale_tier) if scale_tier is not None else None,
        "masterType": master_type,
        "workerType": worker_type,
        "parameterServerType": parameter_server_type,
        "workerCount": worker_count,
        "parameterServerCount": parameter_server_count,
        "pythonModule": module_name,
        "region": region,
        "jobDir": job_dir,
        "runtimeVersion": runtime_version,
        "pythonVersion": python_version,
        "serviceAccount": service_account,
    }
    if _given(package_uris):
        replacements["packageUris"] = _strings(package_uris, "trainingInput.packageUris", "package_uris")
    if _given(user_args):
        replacements["args"] = _strings(user_args, "trainingInput.args", "user_args")
    if hyperparameters is not None:
        if not isinstance(hyperparameters, Mapping):
            raise InvalidJobSpec(
                "trainingInput.hyperparameters",
                f"must be a HyperparameterSpec mapping, got {type(hyperparameters).__name__}",
            )
        check_shape(dict(hyperparameters), "trainingInput.hyperparameters")  # before deepcopy, which recurses
        replacements["hyperparameters"] = copy.deepcopy(dict(hyperparameters))
    for field, value in replacements.items():
        if value is not None:
            training_input[field] = value

    if max_wait_time is not None or max_running_time is not None:
        scheduling = training_input.get("scheduling")
        scheduling = dict(scheduling) if isinstance(scheduling, dict) else {}
        if max_wait_time is not None:
            scheduling["maxWaitTime"] = _duration(max_wait_time, "trainingInput.scheduling.maxWaitTime")
        if max_running_time is not None:
            scheduling["maxRunningTime"] = _duration(
                max_running_time, "trainingInput.scheduling.maxRunningTime"
            )
        training_input["scheduling"] = scheduling
    if master_image_uri is not None:
        master_config = training_input.get("masterConfig")
        master_config = dict(master_config) if isinstance(master_config, dict) else {}
        master_config["imageUri"] = master_image_uri
        training_input["masterConfig"] = master_config

    validate_job(job, backend=backend)
    return job
