"""errors.api_error: the one mapping from engine exceptions to Google's error answer."""

from __future__ import annotations

import pytest

from airflow_provider_trainjobs.local.engine import Aborted, AlreadyExists, FailedPrecondition, NotFound
from airflow_provider_trainjobs.local.errors import ApiError, api_error


@pytest.mark.parametrize(
    ("err", "code", "status"),
    [
        (NotFound("gone"), 404, "NOT_FOUND"),
        (AlreadyExists("twice"), 409, "ALREADY_EXISTS"),
        (Aborted("etag"), 409, "ABORTED"),
        (FailedPrecondition("done"), 400, "FAILED_PRECONDITION"),
        (ApiError(413, "big"), 413, "INVALID_ARGUMENT"),
    ],
)
def test_engine_errors_carry_their_http_status(err: Exception, code: int, status: str) -> None:
    answer = api_error(err)
    assert answer is not None
    assert answer.body() == {"error": {"code": code, "message": str(err), "status": status}}


@pytest.mark.parametrize("err", [ValueError("x"), TypeError("y"), KeyError("z")])
def test_other_exceptions_are_not_engine_errors(err: Exception) -> None:
    assert api_error(err) is None
