"""validate_job: the SPEC.md rules, then the ml v1 discovery schema, as one InvalidJobSpec.

The backend decides one thing: which accelerator names ``acceleratorConfig.type`` may hold. The ml v1 enum
for ``ai-platform``; the aiplatform v1 ``MachineSpec.acceleratorType`` enum for ``vertex`` (newer GPUs such as
NVIDIA_L4 or NVIDIA_H100_80GB exist only there).
"""

from __future__ import annotations

import re
from typing import Any

from .errors import InvalidJobSpec
from .hyperparameters import check_hyperparameters
from .limits import check_shape, show, type_name
from .machines import vertex_accelerator_types
from .rules import check_job_rules
from .schema import validate_shaped

__all__ = ["BACKENDS", "job_problems", "validate_job"]

JOB_SCHEMA = "GoogleCloudMlV1__Job"
BACKENDS = ("ai-platform", "vertex")
_CONFIG_FIELDS = ("masterConfig", "workerConfig", "parameterServerConfig", "evaluatorConfig")
_ACCELERATOR_TYPE_FIELD = re.compile(rf"^trainingInput\.({'|'.join(_CONFIG_FIELDS)})\.acceleratorConfig\.type$")


def _vertex_accelerator_problems(training_input: dict[str, Any]) -> list[tuple[str, str]]:
    """``acceleratorConfig.type`` checked against the aiplatform v1 enum instead of the ml v1 one."""
    known = vertex_accelerator_types()
    problems = []
    for config_field in _CONFIG_FIELDS:
        config = training_input.get(config_field)
        accelerator = config.get("acceleratorConfig") if isinstance(config, dict) else None
        value = accelerator.get("type") if isinstance(accelerator, dict) else None
        field = f"trainingInput.{config_field}.acceleratorConfig.type"
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append((field, f"expected a string, one of {', '.join(known)}; got {type_name(value)} "
                                    f"{show(value)}"))
        elif value not in known:
            problems.append((field, f"{show(value)} is not an aiplatform v1 MachineSpec.acceleratorType (the vertex "
                                    f"backend's accelerators); use one of {', '.join(known)}"))
    return problems


def job_problems(job: Any, *, backend: str = "ai-platform") -> list[tuple[str, str]]:
    """Every (field, rule) the Job body breaks: service rules first, then schema problems on other fields.

    ``backend`` ("ai-platform" or "vertex") picks the accelerator enum ``acceleratorConfig.type`` must be in.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend: must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if not isinstance(job, dict):
        return [("(body)", f"a Job resource must be a mapping, got {type(job).__name__}")]
    try:
        check_shape(job)  # bounded depth and size before any recursive walk
    except InvalidJobSpec as exc:
        return [(exc.field, exc.rule)]
    problems = check_job_rules(job)
    vertex = backend == "vertex"
    if vertex and isinstance(job.get("trainingInput"), dict):
        problems += _vertex_accelerator_problems(job["trainingInput"])
    training_input = job.get("trainingInput")
    if isinstance(training_input, dict) and "hyperparameters" in training_input:
        problems += check_hyperparameters(training_input["hyperparameters"])
    flagged = {field for field, _ in problems}
    for message in validate_shaped("ml.v1", JOB_SCHEMA, job):
        field, _, rule = message.partition(": ")
        if vertex and _ACCELERATOR_TYPE_FIELD.match(field):
            continue  # checked against the aiplatform v1 enum above
        if field not in flagged:
            problems.append((field, rule))
            flagged.add(field)
    return problems


def validate_job(job: Any, *, backend: str = "ai-platform") -> None:
    """Raise InvalidJobSpec naming the first bad field (and listing all) unless ``job`` is a valid training Job.

    ``backend="vertex"`` accepts the aiplatform v1 accelerator types (see :func:`job_problems`).
    """
    problems = job_problems(job, backend=backend)
    if problems:
        field, rule = problems[0]
        raise InvalidJobSpec(field, rule, problems)
