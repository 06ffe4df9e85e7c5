"""Validation of a submitted Job body: the ml v1 discovery schema, then SPEC.md's rules.

Both live in ``airflow_provider_trainjobs.spec`` (shared with the client side, so a body the provider
accepts is a body the service accepts); this module turns their verdict into one 400 message.
"""

from __future__ import annotations

from typing import Any


class InvalidRequest(ValueError):
    """A 400 INVALID_ARGUMENT: the message names the field and the rule."""


def validate_job_request(job: Any) -> None:
    """Raise InvalidRequest (one message naming the field) when ``job`` is not a valid training Job."""
    from airflow_provider_trainjobs.spec import InvalidJobSpec, validate_job
    from airflow_provider_trainjobs.spec.schema import validate_resource

    if not isinstance(job, dict):
        raise InvalidRequest("request body: must be a JSON object holding a Job")
    errors = validate_resource("ml.v1", "GoogleCloudMlV1__Job", job)
    if errors:
        raise InvalidRequest(errors[0])
    try:
        validate_job(job)
    except InvalidJobSpec as err:
        raise InvalidRequest(str(err)) from None
