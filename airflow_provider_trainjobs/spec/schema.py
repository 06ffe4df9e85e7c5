"""Validate request bodies against the discovery documents shipped in google-api-python-client.

Google rejects bodies with wrong types, unknown enum values and unknown fields; checking the
same schema here turns those 400s into one clear error before anything is uploaded or submitted.
The documents are read from the installed package's files (``googleapiclient`` is located, not
imported) and parsed once, on first use.
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["DOCUMENTS", "discovery_document", "resolve_schema_name", "validate_resource"]

DOCUMENTS = ("ml.v1", "aiplatform.v1", "logging.v2")

# Schema-name prefixes per document, so callers may write "Job" for "GoogleCloudMlV1__Job".
_PREFIXES = {
    "ml.v1": ("GoogleCloudMlV1__", "GoogleCloudMlV1_"),
    "aiplatform.v1": ("GoogleCloudAiplatformV1", "GoogleCloudAiplatformV1_"),
    "logging.v2": ("",),
}

_INT_RE = re.compile(r"^[+-]?\d+$")
_DURATION_RE = re.compile(r"^-?\d+(\.\d{1,9})?s$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_BASE64_RE = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")
_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
_SPECIAL_FLOATS = ("NaN", "Infinity", "-Infinity")


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
    """
    validator = _Validator(discovery_document(doc)["schemas"], reject_read_only)
    validator.check(body, {"$ref": resolve_schema_name(doc, schema)}, "")
    return validator.errors


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _item_label(item: Any, index: int) -> str:
    """Array items that carry a name are addressed by it (params[learning_rate]), others by index."""
    if isinstance(item, dict):
        for key in ("parameterName", "parameterId", "metricId"):
            name = item.get(key)
            if isinstance(name, str) and name:
                return name
    return str(index)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


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
            self.check_number(value, path)
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.fail(path, f"expected a boolean (true/false), got {_type_name(value)} {_show(value)}")
        elif kind == "array":
            self.check_array(value, schema, path)
        elif kind == "object" or "properties" in schema or "additionalProperties" in schema:
            self.check_object(value, schema, path)

    def check_enum(self, value: Any, schema: dict[str, Any], path: str) -> None:
        allowed = schema["enum"]
        if not isinstance(value, str):
            self.fail(
                path,
                f"expected a string, one of {', '.join(allowed)}; got {_type_name(value)} {_show(value)}",
            )
        elif value not in allowed:
            self.fail(path, f"{_show(value)} is not one of {', '.join(allowed)}")

    def check_string(self, value: Any, fmt: str | None, path: str) -> None:
        if fmt in ("int64", "uint64", "uint32", "int32"):
            self.check_integer(value, fmt, path)
            return
        if fmt in ("double", "float"):
            self.check_number(value, path)
            return
        if not isinstance(value, str):
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if fmt == "google-duration":
                hint = f" of seconds with an 's' suffix, e.g. '{value}s'" if numeric else " like '3600s'"
            else:
                hint = " (quote it in YAML)" if numeric else ""
            self.fail(path, f"expected a string{hint}, got {_type_name(value)} {_show(value)}")
            return
        if fmt == "google-duration" and not _DURATION_RE.match(value):
            self.fail(path, f"{_show(value)} is not a duration: seconds with an 's' suffix, e.g. '3600s'")
        elif fmt == "google-datetime" and not _DATETIME_RE.match(value):
            self.fail(path, f"{_show(value)} is not an RFC 3339 timestamp, e.g. '2024-01-31T12:00:00Z'")
        elif fmt == "byte" and not _BASE64_RE.match(value):
            self.fail(path, f"{_show(value)} is not base64-encoded bytes")

    def check_integer(self, value: Any, fmt: str, path: str) -> None:
        number: int | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and _INT_RE.match(value.strip()):
            number = int(value)
        if number is None:
            self.fail(path, f"expected an integer ({fmt}), got {_type_name(value)} {_show(value)}")
            return
        low, high = _INT_RANGES.get(fmt, _INT_RANGES["int64"])
        if not low <= number <= high:
            self.fail(path, f"{number} is out of the {fmt} range [{low}, {high}]")

    def check_number(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.fail(path, f"expected a number, got {_type_name(value)} {_show(value)}")
            return
        if isinstance(value, str) and value not in _SPECIAL_FLOATS:
            try:
                float(value)
            except ValueError:
                self.fail(path, f"expected a number, got string {_show(value)}")

    def check_array(self, value: Any, schema: dict[str, Any], path: str) -> None:
        if not isinstance(value, list | tuple):
            self.fail(path, f"expected an array (list), got {_type_name(value)} {_show(value)}")
            return
        items = schema.get("items", {})
        for index, item in enumerate(value):
            self.check(item, items, f"{path}[{_item_label(item, index)}]")

    def check_object(self, value: Any, schema: dict[str, Any], path: str) -> None:
        if not isinstance(value, dict):
            self.fail(path, f"expected an object (mapping), got {_type_name(value)} {_show(value)}")
            return
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            where = _join(path, str(key))
            if not isinstance(key, str):
                self.fail(where, f"keys must be strings, got {_type_name(key)}")
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
