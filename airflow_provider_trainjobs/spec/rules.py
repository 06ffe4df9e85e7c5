"""The Job resource rules AI Platform Training enforces beyond the discovery schema (SPEC.md "Job resource").

Each check returns (field, rule) pairs; wrong types are left to the schema check, so a rule
only speaks about values of the type it expects.
"""

from __future__ import annotations

import re
from typing import Any

from .durations import parse_duration
from .limits import parse_int_text, show

__all__ = [
    "JOB_ID_RE",
    "MAX_LABELS",
    "MAX_PACKAGE_URIS",
    "MIN_MAX_WAIT_SECONDS",
    "as_int",
    "check_job_id",
    "check_job_rules",
    "check_labels",
]

Problems = list[tuple[str, str]]

JOB_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")
MAX_LABEL_LENGTH = 63
GCS_OBJECT_RE = re.compile(r"^gs://[^/\s]+/.+$")
GCS_PATH_RE = re.compile(r"^gs://[^/\s]+(/.*)?$")
MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# Dot-separated domain labels, so a long run of dots cannot make the match backtrack quadratically.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$")
MAX_EMAIL_LENGTH = 254
MAX_LABELS = 64
MAX_PACKAGE_URIS = 100
MIN_MAX_WAIT_SECONDS = 1800
PRIORITY_RANGE = (0, 1000)  # ml.v1 Scheduling.priority: "in the range [0, 1000]"
SCALE_TIERS = ("BASIC", "STANDARD_1", "PREMIUM_1", "BASIC_GPU", "BASIC_TPU", "CUSTOM")
# (machine type field, count field, config field) per replica role other than the master.
REPLICA_ROLES = (
    ("workerType", "workerCount", "workerConfig"),
    ("parameterServerType", "parameterServerCount", "parameterServerConfig"),
    ("evaluatorType", "evaluatorCount", "evaluatorConfig"),
)


def as_int(value: Any) -> int | None:
    """An integer field's value (Google sends int64 as strings), or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return parse_int_text(value)  # None past MAX_INT_DIGITS digits: the schema reports the range
    return None


def check_job_id(value: Any, field: str = "jobId") -> Problems:
    """jobId: letters, digits and underscores, starting with a letter, at most 128 characters."""
    if value is None or value == "":
        return [(field, "required: a job id of letters, digits and underscores starting with a letter")]
    if not isinstance(value, str) or not JOB_ID_RE.match(value):
        return [
            (
                field,
                f"{show(value)} is not a valid job id: letters, digits and underscores only, "
                "starting with a letter, at most 128 characters",
            )
        ]
    return []


def _label_char(char: str) -> bool:
    """Lowercase letters (international ones too, as Google allows), ASCII digits, '_' and '-'."""
    return char in "_-0123456789" or (char.isalpha() and not char.isupper())


def _label_key_ok(key: Any) -> bool:
    return (
        isinstance(key, str)
        and 0 < len(key) <= MAX_LABEL_LENGTH
        and key[0].isalpha()
        and not key[0].isupper()
        and all(map(_label_char, key))
    )


def _label_value_ok(value: str) -> bool:
    return len(value) <= MAX_LABEL_LENGTH and all(map(_label_char, value))


def check_labels(labels: Any, field: str = "labels") -> Problems:
    """Label rules: ≤ 64 labels; keys start with a lowercase letter; keys and values use lowercase
    letters, digits, '_' and '-', at most 63 characters (values may be empty)."""
    if not isinstance(labels, dict):
        return []  # the schema check reports the type
    problems: Problems = []
    if len(labels) > MAX_LABELS:
        problems.append((field, f"{len(labels)} labels given; at most {MAX_LABELS} are allowed"))
    for key, value in labels.items():
        if not _label_key_ok(key):
            problems.append(
                (
                    f"{field}.{key if isinstance(key, str) else show(key, 40)}",
                    "label keys must start with a lowercase letter and contain only lowercase letters, "
                    "digits, '_' and '-', at most 63 characters",
                )
            )
        if isinstance(value, str) and not _label_value_ok(value):
            problems.append(
                (
                    f"{field}.{key if isinstance(key, str) else show(key, 40)}",
                    f"label value {show(value)} may contain only lowercase letters, digits, '_' and '-', "
                    "at most 63 characters",
                )
            )
    return problems


def check_job_rules(job: dict[str, Any]) -> Problems:
    """Every Job resource rule of SPEC.md except hyperparameters (see hyperparameters.py)."""
    problems = check_job_id(job.get("jobId"))
    if "labels" in job:
        problems += check_labels(job["labels"])
    if "predictionInput" in job:
        problems.append(("predictionInput", "this provider submits training jobs only; use trainingInput"))
    ti = job.get("trainingInput")
    if ti is None:
        problems.append(("trainingInput", "required: the training job's TrainingInput"))
        return problems
    if not isinstance(ti, dict):
        return problems  # schema reports the type
    problems += _check_region(ti)
    problems += _check_cluster(ti)
    problems += _check_code(ti)
    problems += _check_scheduling(ti.get("scheduling"))
    service_account = ti.get("serviceAccount")
    if isinstance(service_account, str) and (
        len(service_account) > MAX_EMAIL_LENGTH or not EMAIL_RE.match(service_account)
    ):
        problems.append(
            ("trainingInput.serviceAccount", f"{show(service_account)} is not a service account email")
        )
    return problems


def _check_region(ti: dict[str, Any]) -> Problems:
    region = ti.get("region")
    if region is None or (isinstance(region, str) and not region.strip()):
        return [("trainingInput.region", "required: the region to run the job in, e.g. 'us-central1'")]
    return []


def _check_cluster(ti: dict[str, Any]) -> Problems:
    problems: Problems = []
    tier = ti.get("scaleTier")
    custom = tier == "CUSTOM"
    if custom and not ti.get("masterType"):
        problems.append(("trainingInput.masterType", "required when scaleTier is CUSTOM"))
    if isinstance(tier, str) or tier is None:
        shown = tier[:40] if tier else "unset (BASIC)"
        for field in ("masterType", *(role[0] for role in REPLICA_ROLES)):
            if ti.get(field) and not custom:
                problems.append(
                    (
                        f"trainingInput.{field}",
                        f"machine types are only allowed with scaleTier CUSTOM, not {shown}",
                    )
                )
    for type_field, count_field, _config in REPLICA_ROLES:
        raw = ti.get(count_field)
        if raw is None:
            continue
        count = as_int(raw)
        if count is None:
            continue  # schema reports the type
        if count < 0:
            problems.append((f"trainingInput.{count_field}", f"must be 0 or more, got {show(count)}"))
        elif count > 0 and not ti.get(type_field):
            problems.append((f"trainingInput.{type_field}", f"required when {count_field} is {show(count)}"))
    for config_field in ("masterConfig", *(role[2] for role in REPLICA_ROLES)):
        problems += _check_replica_config(ti.get(config_field), f"trainingInput.{config_field}")
    return problems


def _check_replica_config(config: Any, field: str) -> Problems:
    if not isinstance(config, dict):
        return []
    problems: Problems = []
    accelerator = config.get("acceleratorConfig")
    if isinstance(accelerator, dict):
        count = as_int(accelerator.get("count"))
        if count is not None and count < 1:
            problems.append((f"{field}.acceleratorConfig.count", f"must be 1 or more, got {show(count)}"))
        if accelerator.get("count") is not None and not accelerator.get("type"):
            problems.append(
                (f"{field}.acceleratorConfig.type", "required when acceleratorConfig.count is set")
            )
    disk = config.get("diskConfig")
    if isinstance(disk, dict):
        size = as_int(disk.get("bootDiskSizeGb"))
        if size is not None and size < 1:
            problems.append((f"{field}.diskConfig.bootDiskSizeGb", f"must be 1 or more, got {show(size)}"))
    return problems


def _check_code(ti: dict[str, Any]) -> Problems:
    """Either a Python package (packageUris + pythonModule) or a custom container (masterConfig.imageUri)."""
    problems: Problems = []
    master = ti.get("masterConfig")
    image = master.get("imageUri") if isinstance(master, dict) else None
    uris = ti.get("packageUris")
    module = ti.get("pythonModule")
    if image:
        for field, value in (
            ("packageUris", uris),
            ("pythonModule", module),
            ("runtimeVersion", ti.get("runtimeVersion")),
        ):
            if value:
                problems.append(
                    (
                        f"trainingInput.{field}",
                        "must not be set with a custom container (masterConfig.imageUri)",
                    )
                )
    else:
        if not uris:
            problems.append(
                (
                    "trainingInput.packageUris",
                    "required: the gs:// URIs of the trainer packages (or masterConfig.imageUri for a custom container)",
                )
            )
        if not module:
            problems.append(
                (
                    "trainingInput.pythonModule",
                    "required: the trainer's main module, e.g. 'trainer.task' (or masterConfig.imageUri "
                    "for a custom container)",
                )
            )
    if isinstance(uris, list | tuple):
        if len(uris) > MAX_PACKAGE_URIS:
            problems.append(
                (
                    "trainingInput.packageUris",
                    f"{len(uris)} URIs given; at most {MAX_PACKAGE_URIS} are allowed",
                )
            )
        for index, uri in enumerate(uris):
            if isinstance(uri, str) and not GCS_OBJECT_RE.match(uri):
                problems.append(
                    (
                        f"trainingInput.packageUris[{index}]",
                        f"{show(uri)} is not a Cloud Storage object URI (gs://BUCKET/OBJECT)",
                    )
                )
    if isinstance(module, str) and module and not MODULE_RE.match(module):
        problems.append(("trainingInput.pythonModule", f"{show(module)} is not a dotted Python module name"))
    job_dir = ti.get("jobDir")
    if isinstance(job_dir, str) and not GCS_PATH_RE.match(job_dir):
        problems.append(
            ("trainingInput.jobDir", f"{show(job_dir)} is not a Cloud Storage path (gs://BUCKET[/PATH])")
        )
    return problems


def _check_scheduling(scheduling: Any) -> Problems:
    if not isinstance(scheduling, dict):
        return []
    problems: Problems = []
    for key in ("maxWaitTime", "maxRunningTime"):
        value = scheduling.get(key)
        if not isinstance(value, str):
            continue  # absent, or a type error the schema reports
        try:
            seconds = parse_duration(value)
        except ValueError:
            continue  # the schema reports the format
        if key == "maxWaitTime" and seconds < MIN_MAX_WAIT_SECONDS:
            problems.append(
                (
                    f"trainingInput.scheduling.{key}",
                    f"{show(value)} is too short: it must be at least {MIN_MAX_WAIT_SECONDS}s",
                )
            )
        if key == "maxRunningTime" and seconds <= 0:
            problems.append((f"trainingInput.scheduling.{key}", f"{show(value)} must be more than 0s"))
    priority = as_int(scheduling.get("priority"))
    low, high = PRIORITY_RANGE
    if priority is not None and not low <= priority <= high:
        problems.append(
            ("trainingInput.scheduling.priority", f"{show(priority)} is outside the range [{low}, {high}]")
        )
    return problems
