"""validate_job: the SPEC.md rules, then the ml v1 discovery schema, as one InvalidJobSpec."""

from __future__ import annotations

from typing import Any

from .errors import InvalidJobSpec
from .hyperparameters import check_hyperparameters
from .rules import check_job_rules
from .schema import validate_resource

__all__ = ["job_problems", "validate_job"]

JOB_SCHEMA = "GoogleCloudMlV1__Job"


def job_problems(job: Any) -> list[tuple[str, str]]:
    """Every (field, rule) the Job body breaks: service rules first, then schema problems on other fields."""
    if not isinstance(job, dict):
        return [("(body)", f"a Job resource must be a mapping, got {type(job).__name__}")]
    problems = check_job_rules(job)
    training_input = job.get("trainingInput")
    if isinstance(training_input, dict) and "hyperparameters" in training_input:
        problems += check_hyperparameters(training_input["hyperparameters"])
    flagged = {field for field, _ in problems}
    for message in validate_resource("ml.v1", JOB_SCHEMA, job):
        field, _, rule = message.partition(": ")
        if field not in flagged:
            problems.append((field, rule))
            flagged.add(field)
    return problems


def validate_job(job: Any) -> None:
    """Raise InvalidJobSpec naming the first bad field (and listing all) unless ``job`` is a valid training Job."""
    problems = job_problems(job)
    if problems:
        field, rule = problems[0]
        raise InvalidJobSpec(field, rule, problems)
