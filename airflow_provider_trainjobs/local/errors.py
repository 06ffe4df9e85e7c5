"""What the ml v1 and Vertex routes share: Google's error answer and the list-request parameters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_trainjobs.local.filters import FilterError, parse_job_filter

_STATUS_NAMES = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS", 500: "INTERNAL"}


class ApiError(Exception):
    """An error the server answers in Google's JSON shape: ``{"error": {code, message, status}}``."""

    def __init__(self, code: int, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _STATUS_NAMES.get(code, "UNKNOWN")


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
    offset = int(token) if token.isdigit() else -1
    if offset < 0:
        raise ApiError(400, f"pageToken: {token!r} is not a token this service issued")
    try:
        predicate = parse_job_filter(query.get("filter"))
    except FilterError as err:
        raise ApiError(400, str(err)) from None
    return offset, page_size or default_size, predicate
