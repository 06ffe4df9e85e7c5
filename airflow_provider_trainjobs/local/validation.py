"""Validation of a submitted Job body: the ml v1 discovery schema, then SPEC.md's rules.

Both live in ``airflow_provider_trainjobs.spec`` (shared with the client side, so a body the provider
accepts is a body the service accepts); this module turns their verdict into one 400 message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class InvalidRequest(ValueError):
    """A 400 INVALID_ARGUMENT: the message names the field and the rule."""


def validate_job_request(job: Any) -> None:
    """Raise InvalidRequest (one message naming the field) when ``job`` is not a valid training Job."""
    from airflow_provider_trainjobs.spec import InvalidJobSpec, validate_job
    from airflow_provider_trainjobs.spec.schema import validate_resource

    if not isinstance(job, dict):
        raise InvalidRequest("request body: must be a JSON object holding a Job")
    with spec_crashes_are_400("Job"):
        errors = validate_resource("ml.v1", "GoogleCloudMlV1__Job", job)
        if errors:
            raise InvalidRequest(errors[0])
        try:
            validate_job(job)
        except InvalidJobSpec as err:
            raise InvalidRequest(str(err)) from None


@contextmanager
def spec_crashes_are_400(what: str) -> Iterator[None]:
    """A crash inside the shared spec rules (a bug there, reported to its owner) answers 400, not 500:
    the body is what made it crash. The message names the exception type, never a traceback."""
    try:
        yield
    except InvalidRequest:
        raise
    except (ArithmeticError, LookupError, RecursionError, TypeError, ValueError, AttributeError) as err:
        raise InvalidRequest(f"request body: this {what} cannot be validated ({type(err).__name__} in the"
                             " job spec rules); check its field types and sizes") from None


# Google's project ids: 6-30 lowercase letters, digits and hyphens, starting with a letter, not ending with a
# hyphen; optionally scoped by a domain ("example.com:my-project"). Project numbers are accepted too.
PROJECT_ID_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
PROJECT_NUMBER_RE = re.compile(r"^[1-9][0-9]{0,18}$")
LOCATION_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def check_project(project: str, field: str = "name") -> None:
    """InvalidRequest naming ``field`` unless ``project`` is a Google project id or number (it names a
    directory under the data dir: ``..``, ``.``, NUL or 300 characters never reach the file system)."""
    if not (PROJECT_ID_RE.match(project) or PROJECT_NUMBER_RE.match(project)):
        shown = project if len(project) <= 64 else project[:64] + "..."
        raise InvalidRequest(f"{field}: {shown!r} is not a valid project id: 6 to 30 lowercase letters, digits"
                             " and hyphens, starting with a letter and not ending with a hyphen")


def check_location(location: str, field: str = "name") -> None:
    if not LOCATION_RE.match(location):
        shown = location if len(location) <= 64 else location[:64] + "..."
        raise InvalidRequest(f"{field}: {shown!r} is not a valid location (e.g. us-central1)")
