"""Google's error answer for every route of the local service, and the list-request parameters they share.

``ApiError`` is what a route raises for an error answer; ``api_error`` is the one place that maps an
engine exception to its HTTP status (``NotFound`` 404, ``AlreadyExists`` 409, ``Aborted`` 409 ABORTED,
``FailedPrecondition`` 400 FAILED_PRECONDITION, and the request checks' ``InvalidRequest``/``FilterError``
400 INVALID_ARGUMENT), so no route needs ``except ValueError`` tricks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_trainjobs.local.engine import Aborted, AlreadyExists, FailedPrecondition, NotFound
from airflow_provider_trainjobs.local.filters import FilterError, parse_job_filter
from airflow_provider_trainjobs.local.validation import InvalidRequest

_STATUS_NAMES = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
                 408: "DEADLINE_EXCEEDED", 409: "ALREADY_EXISTS", 411: "INVALID_ARGUMENT",
                 413: "INVALID_ARGUMENT", 415: "INVALID_ARGUMENT", 500: "INTERNAL"}
# Engine exception -> (HTTP code, google.rpc status). Checked in order: FailedPrecondition and Aborted
# subclass ValueError like AlreadyExists, so each class is matched exactly, not through ValueError.
ENGINE_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (NotFound, 404, "NOT_FOUND"),
    (AlreadyExists, 409, "ALREADY_EXISTS"),
    (Aborted, 409, "ABORTED"),
    (FailedPrecondition, 400, "FAILED_PRECONDITION"),
    (InvalidRequest, 400, "INVALID_ARGUMENT"),
    (FilterError, 400, "INVALID_ARGUMENT"),
)


class ApiError(Exception):
    """An error the server answers in Google's JSON shape: ``{"error": {code, message, status}}``."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _STATUS_NAMES.get(code, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        """The JSON body Google's front end answers for this error."""
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def api_error(err: Exception) -> ApiError | None:
    """The answer for an engine exception (None when ``err`` is not one the engine raises on purpose)."""
    if isinstance(err, ApiError):
        return err
    for kind, code, status in ENGINE_ERRORS:
        if isinstance(err, kind):
            return ApiError(code, str(err), status)
    return None


def method_not_found(method: str, path: str) -> ApiError:
    """What Google's front end answers for a verb a resource does not serve (404, "Method not found.")."""
    return ApiError(404, f"Method not found: {method} {path}")


def no_route(method: str, path: str) -> ApiError:
    return ApiError(404, f"Requested entity was not found: no route for {method} {path}")


def list_request(
    query: dict[str, str], *, default_size: int, max_size: int
) -> tuple[int, int, Callable[[dict[str, Any]], bool]]:
    """(offset, page size, filter predicate) of a list request; ApiError 400 naming the bad parameter."""
    try:
        page_size = int(query.get("pageSize") or default_size)
    except ValueError:
        raise ApiError(400, "pageSize: must be an integer") from None
    if not 0 <= page_size <= max_size:
        raise ApiError(400, f"pageSize: must be between 0 and {max_size}; got {page_size}")
    token = query.get("pageToken") or "0"
    offset = int(token) if token.isdigit() and len(token) <= 18 else -1
    if offset < 0:
        raise ApiError(400, f"pageToken: {token[:40]!r} is not a token this service issued")
    try:
        predicate = parse_job_filter(query.get("filter"))
    except FilterError as err:
        raise ApiError(400, str(err)) from None
    return offset, page_size or default_size, predicate
