"""One HTTP request as the local service's route modules see it, and the checks every JSON body passes.

``json()`` refuses with 400 what Google's JSON-to-proto front end refuses and what would otherwise crash
a validator deep inside: nesting deeper than ``MAX_DEPTH``, numbers that are not finite (``NaN``,
``Infinity``, ``1e400``), integers outside int64, and values of a type JSON does not have. ``parse_query``
reads a query string the same way whether it came in the URL or as the form body of a method-overridden POST.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from airflow_provider_trainjobs.local.errors import ApiError
from airflow_provider_trainjobs.local.guard import Headers

MAX_DEPTH = 100
INT64 = 2**63
MAX_QUERY_FIELDS = 1000  # parameters in one query string; every route reads a handful


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_values(body: Any) -> None:
    """400 naming the field when ``body`` nests too deeply or holds a number that no proto field can take."""
    stack: list[tuple[Any, str, int]] = [(body, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ApiError(400, f"request body: nested deeper than {MAX_DEPTH} levels (at {where[:80]}...)")
        if isinstance(value, dict):
            stack.extend((item, f"{where}.{str(key)[:64]}" if where else str(key)[:64], depth + 1)
                         for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{index}]", depth + 1) for index, item in enumerate(value))
        elif isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        elif isinstance(value, int):
            if not -INT64 <= value < INT64:
                raise ApiError(400, f"{where or 'request body'}: the integer is out of range (64-bit at most)")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ApiError(400, f"{where or 'request body'}: the number is out of range (not a finite double)")


def parse_json(raw: bytes) -> Any:
    """``raw`` as JSON ({} when empty), checked by ``check_values``; ApiError 400 when it is not JSON."""
    if not raw:
        return {}
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, f"request body: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # also UnicodeDecodeError and the 4300-digit integer limit
        raise ApiError(400, "request body: not valid JSON") from None
    check_values(body)
    return body


def parse_query(text: str) -> dict[str, str]:
    """The parameters of a query string (a repeated one keeps its last value, as the routes always did);
    400 past ``MAX_QUERY_FIELDS`` parameters."""
    try:
        pairs = parse_qs(text, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        raise ApiError(400, f"query: more than {MAX_QUERY_FIELDS} parameters") from None
    return {key: values[-1] for key, values in pairs.items()}


def override_query(url_query: str, raw: bytes) -> str:
    """The query a method-overridden POST stands for: the URL's own query followed by the form body
    (googleapiclient moves the whole query into the body); 400 when the body is not percent-encoded ASCII."""
    try:
        form = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ApiError(400, "request body: a form body must be percent-encoded ASCII") from None
    return "&".join(part for part in (url_query, form) if part)


@dataclass(frozen=True)
class Request:
    """What a route needs; ``json()`` parses the body on demand (routes that ignore it never fail on it)."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""
    headers: Headers = field(default_factory=lambda: dict[str, str]())

    def json(self) -> Any:
        return parse_json(self.raw)
