"""One HTTP request as the local service's route modules see it: verb, decoded path, query, raw body."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_trainjobs.local.errors import ApiError


@dataclass(frozen=True)
class Request:
    """What a route needs; ``json()`` parses the body on demand (routes that ignore it never fail on it)."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""

    def json(self) -> Any:
        """The body as JSON ({} when empty); ApiError 400 when it is not JSON."""
        if not self.raw:
            return {}
        try:
            return json.loads(self.raw)
        except ValueError:
            raise ApiError(400, "request body: not valid JSON") from None
