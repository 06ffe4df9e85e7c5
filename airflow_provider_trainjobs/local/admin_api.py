"""The ``/admin`` routes of the local service: ``GET``/``POST /admin/faults`` (fault injection at runtime).

They need the admin token (``guard.check_admin_token``): a page or process that can reach the port but
cannot read ``<data-dir>/admin-token`` cannot change how the service answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.local.errors import ApiError
from airflow_provider_trainjobs.local.guard import check_admin_token

if TYPE_CHECKING:
    from airflow_provider_trainjobs.local.faults import Faults
    from airflow_provider_trainjobs.local.request import Request

PREFIX = "/admin/"


def matches(path: str) -> bool:
    return path.startswith(PREFIX)


def handle(faults: Faults, token: str, request: Request) -> tuple[int, Any]:
    """Answer an admin request; a route that exists needs ``Authorization: Bearer <token>``."""
    if request.path == "/admin/faults" and request.method in ("GET", "POST"):
        check_admin_token(request.headers, token)
        if request.method == "POST":
            body = request.json()
            if not isinstance(body, dict):
                raise ApiError(400, "request body: must be a JSON object of fault settings")
            try:
                return 200, faults.update(body)
            except (TypeError, ValueError) as err:
                raise ApiError(400, str(err)) from None
        if request.method == "GET":
            return 200, faults.describe()
    raise ApiError(404, f"no admin route {request.method} {request.path}")
