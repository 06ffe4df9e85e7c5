"""Validation of a submitted Job body: the ml v1 discovery schema plus SPEC.md's rules.

The rules live in ``airflow_provider_trainjobs.spec`` (shared with the client side); this module only
adapts them to the service (one message naming the field) and adds what only the service checks.
"""

from __future__ import annotations

import re
from typing import Any

_JOB_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")


class InvalidRequest(ValueError):
    """A 400 INVALID_ARGUMENT: the message names the field and the rule."""


def _minimal_checks(job: dict[str, Any]) -> None:
    """The checks the service cannot do without (used when the spec package is not importable)."""
    job_id = job.get("jobId")
    if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
        raise InvalidRequest(
            f"jobId: must start with a letter and hold only letters, digits and underscores (max 128); got {job_id!r}"
        )
    training = job.get("trainingInput")
    if not isinstance(training, dict):
        raise InvalidRequest("trainingInput: required for a training job")
    if not training.get("region"):
        raise InvalidRequest("trainingInput.region: required")
    image = (training.get("masterConfig") or {}).get("imageUri")
    if not image and not (training.get("packageUris") and training.get("pythonModule")):
        raise InvalidRequest(
            "trainingInput: either packageUris and pythonModule, or masterConfig.imageUri (custom container) is required"
        )


def validate_job_request(job: Any) -> None:
    """Raise InvalidRequest (one message naming the field) when ``job`` is not a valid training Job."""
    if not isinstance(job, dict):
        raise InvalidRequest("request body: must be a JSON object holding a Job")
    try:
        from airflow_provider_trainjobs.spec.schema import validate_resource
    except ImportError:
        validate_resource = None  # type: ignore[assignment]
    if validate_resource is not None:
        errors = validate_resource("ml.v1", "GoogleCloudMlV1__Job", job)
        if errors:
            raise InvalidRequest(errors[0])
    try:
        from airflow_provider_trainjobs.spec import InvalidJobSpec, validate_job
    except ImportError:
        _minimal_checks(job)
        return
    _minimal_checks(job)
    try:
        validate_job(job)
    except InvalidJobSpec as err:
        raise InvalidRequest(str(err)) from None
