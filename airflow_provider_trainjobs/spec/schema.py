"""Validate request bodies against the discovery documents shipped in google-api-python-client.

Google rejects bodies with wrong types, unknown enum values and unknown fields; checking the
same schema here turns those 400s into one clear error before anything is uploaded or submitted.
The documents are read from the installed package's files (``googleapiclient`` is located, not
imported) and parsed once, on first use.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from .durations import parse_duration
from .errors import InvalidJobSpec
from .limits import MAX_NAME_IN_PATH, check_shape, parse_int_text, show, type_name

__all__ = ["DOCUMENTS", "discovery_document", "resolve_schema_name", "validate_resource", "validate_shaped"]

DOCUMENTS = ("ml.v1", "aiplatform.v1", "logging.v2")

# Schema-name prefixes per document, so callers may write "Job" for "GoogleCloudMlV1__Job".
_PREFIXES = {
    "ml.v1": ("GoogleCloudMlV1__", "GoogleCloudMlV1_"),
    "aiplatform.v1": ("GoogleCloudAiplatformV1", "GoogleCloudAiplatformV1_"),
    "logging.v2": ("",),
}

_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")
_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
_SPECIAL_FLOATS = ("NaN", "Infinity", "-Infinity")  # how Google's JSON spells the non-finite doubles
_FLOAT_LIMITS = {"double": 1.7976931348623157e308, "float": 3.4028234663852886e38}


def _documents_dir() -> Path:
    spec = importlib.util.find_spec("googleapiclient")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("google-api-python-client is not installed: its discovery documents are needed")
    return Path(next(iter(spec.submodule_search_locations))) / "discovery_cache" / "documents"


@cache
def discovery_document(doc: str) -> dict[str, Any]:
    """The parsed discovery document ``doc`` ("ml.v1", "aiplatform.v1" or "logging.v2"), cached."""
    if doc not in DOCUMENTS:
        raise ValueError(f"unknown discovery document {doc!r}; expected one of {', '.join(DOCUMENTS)}")
    with open(_documents_dir() / f"{doc}.json", encoding="utf-8") as fh:
        parsed: dict[str, Any] = json.load(fh)
    return parsed


def resolve_schema_name(doc: str, schema: str) -> str:
    """The full schema id for ``schema`` in ``doc``; short names such as "Job" are accepted."""
    schemas = discovery_document(doc)["schemas"]
    if schema in schemas:
        return schema
    for prefix in _PREFIXES[doc]:
        if prefix + schema in schemas:
            return prefix + schema
    raise ValueError(f"schema {schema!r} is not defined in the {doc} discovery document")


def validate_resource(doc: str, schema: str, body: Any, *, reject_read_only: bool = False) -> list[str]:
    """Every way ``body`` breaks ``schema`` of discovery document ``doc``, as "<json path>: <rule>".

    Checks types (with the string encodings Google accepts for int64/uint64 and numbers), formats
    (int32/int64/uint64 ranges, google-duration, google-datetime, byte), enums, ``$ref``s,
    ``additionalProperties`` and unknown fields. Fields marked readOnly are skipped (Google ignores
    them on input) unless ``reject_read_only`` is set. An empty list means the body is valid.
    A body nested or sized past the bounds of ``limits.check_shape`` is one problem, found before the walk.
    """
    try:
        check_shape(body)
    except InvalidJobSpec as exc:
        return [f"{exc.field}: {exc.rule}"]
    return validate_shaped(doc, schema, body, reject_read_only=reject_read_only)


def validate_shaped(doc: str, schema: str, body: Any, *, reject_read_only: bool = False) -> list[str]:
    """validate_resource for a body that already passed ``limits.check_shape`` (the walk recurses)."""
    validator = _Validator(discovery_document(doc)["schemas"], reject_read_only)
    validator.check(body, {"$ref": resolve_schema_name(doc, schema)}, "")
    return validator.errors


def _int_range(fmt: str) -> str:
    low, high = _INT_RANGES.get(fmt, _INT_RANGES["int64"])
    return f"[{low}, {high}]"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _item_label(item: Any, index: int) -> str:
    """Array items that carry a name are addressed by it (params[learning_rate]), others by index."""
    if isinstance(item, dict):
        for key in ("parameterName", "parameterId", "metricId"):
            name = item.get(key)
            if isinstance(name, str) and 0 < len(name) <= MAX_NAME_IN_PATH:
                return name
    return str(index)


class _Validator:
    """Walks a body alongside its schema, collecting messages."""

    def __init__(self, schemas: dict[str, Any], reject_read_only: bool) -> None:
        self.schemas = schemas
        self.reject_read_only = reject_read_only
        self.errors: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f"{path or '(body)'}: {message}")

    def check(self, value: Any, schema: dict[str, Any], path: str) -> None:
        ref = schema.get("$ref")
        if ref is not None:
            schema = self.schemas[ref]
        if value is None:  # JSON null means "unset" to Google's parsers
            return
        kind = schema.get("type")
        if kind == "any" or (
            kind is None and "properties" not in schema and "additionalProperties" not in schema
        ):
            return
        if "enum" in schema:
            self.check_enum(value, schema, path)
        elif kind == "string":
            self.check_string(value, schema.get("format"), path)
        elif kind == "integer":
            self.check_integer(value, schema.get("format", "int32"), path)
        elif kind == "number":
            self.check_number(value, path, schema.get("format", "double"))
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.fail(path, f"expected a boolean (true/false), got {type_name(value)} {show(value)}")
        elif kind == "array":
            self.check_array(value, schema, path)
        elif kind == "object" or "properties" in schema or "additionalProperties" in schema:
            self.check_object(value, schema, path)

    def check_enum(self, value: Any, schema: dict[str, Any], path: str) -> None:
        allowed = schema["enum"]
        if not isinstance(value, str):
            self.fail(
                path,
                f"expected a string, one of {', '.join(allowed)}; got {type_name(value)} {show(value)}",
            )
        elif value not in allowed:
            self.fail(path, f"{show(value)} is not one of {', '.join(allowed)}")

    def check_string(self, value: Any, fmt: str | None, path: str) -> None:
        if fmt in ("int64", "uint64", "uint32", "int32"):
            self.check_integer(value, fmt, path)
            return
        if fmt in ("double", "float"):
            self.check_number(value, path, fmt)
            return
        if not isinstance(value, str):
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if fmt == "google-duration":
                hint = f" of seconds with an 's' suffix, e.g. '{show(value)}s'" if numeric else " like '3600s'"
            else:
                hint = " (quote it in YAML)" if numeric or isinstance(value, date) else ""
            self.fail(path, f"expected a string{hint}, got {type_name(value)} {show(value)}")
            return
        if fmt == "google-duration":
            self.check_duration(value, path)
        elif fmt == "google-datetime" and not _DATETIME_RE.match(value):
            self.fail(path, f"{show(value)} is not an RFC 3339 timestamp, e.g. '2024-01-31T12:00:00Z'")
        elif fmt == "byte" and not _BASE64_RE.match(value):
            self.fail(path, f"{show(value)} is not base64-encoded bytes")

    def check_integer(self, value: Any, fmt: str, path: str) -> None:
        number: int | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            number = parse_int_text(value)
            if number is None and value.strip().lstrip("+-").isdigit():
                self.fail(path, f"{show(value)} is out of the {fmt} range {_int_range(fmt)}")
                return
        if number is None:
            self.fail(path, f"expected an integer ({fmt}), got {type_name(value)} {show(value)}")
            return
        low, high = _INT_RANGES.get(fmt, _INT_RANGES["int64"])
        if not low <= number <= high:
            self.fail(path, f"{show(number)} is out of the {fmt} range {_int_range(fmt)}")

    def check_duration(self, value: str, path: str) -> None:
        try:
            parse_duration(value)
        except ValueError as exc:
            self.fail(path, str(exc))

    def check_number(self, value: Any, path: str, fmt: str = "double") -> None:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.fail(path, f"expected a number, got {type_name(value)} {show(value)}")
            return
        if isinstance(value, str):
            if value in _SPECIAL_FLOATS:
                return
            try:
                number = float(value)
            except ValueError:
                self.fail(path, f"expected a number, got string {show(value)}")
                return
        elif isinstance(value, float):
            number = value
            if not math.isfinite(number):
                self.fail(path, f"{value!r} is not a finite number (Google's JSON writes it as the string "
                          "'NaN', 'Infinity' or '-Infinity')")
                return
        else:
            number = float(value) if abs(value).bit_length() <= 1024 else math.inf
        limit = _FLOAT_LIMITS.get(fmt, _FLOAT_LIMITS["double"])
        if not abs(number) <= limit:
            self.fail(path, f"{show(value)} is out of the {fmt} range (at most {limit:g} either way)")

    def check_array(self, value: Any, schema: dict[str, Any], path: str) -> None:
        if not isinstance(value, list | tuple):
            self.fail(path, f"expected an array (list), got {type_name(value)} {show(value)}")
            return
        items = schema.get("items", {})
        for index, item in enumerate(value):
            self.check(item, items, f"{path}[{_item_label(item, index)}]")

    def check_object(self, value: Any, schema: dict[str, Any], path: str) -> None:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object (mapping), got {type_name(value)} {show(value)}")
            return
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            where = _join(path, key if isinstance(key, str) else show(key, 40))
            if not isinstance(key, str):
                self.fail(where, f"keys must be strings, got {type_name(key)}")
                continue
            if key in properties:
                prop = properties[key]
                if prop.get("readOnly"):
                    if self.reject_read_only:
                        self.fail(where, "is output only (set by the service) and must not be sent")
                    continue
                self.check(item, prop, where)
            elif extra is not None:
                self.check(item, extra, where)
            else:
                known = schema.get("id", "this object")
                self.fail(where, f"unknown field (not a field of {known}; Google rejects unknown fields)")
