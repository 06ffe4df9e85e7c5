"""Bounds on what a job spec may hold, so hostile input ends in one InvalidJobSpec instead of a crash or hang.

A real Job body is a few hundred values nested a few levels deep; these bounds are far above that and far
below what makes the validators (or ``copy.deepcopy``) recurse past Python's stack or run for seconds.
``show`` is the one way a value gets into an error message: it never formats more than it prints.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from .errors import InvalidJobSpec

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "MAX_NAME_IN_PATH",
    "MAX_VALUES",
    "check_shape",
    "int_digits",
    "parse_int_text",
    "show",
    "type_name",
]

MAX_CONFIG_BYTES = 1 << 20  # a config file larger than 1 MiB is refused unread
MAX_DEPTH = 32  # lists/mappings inside one another; the deepest ml v1 Job field is 6 levels down
MAX_VALUES = 10_000  # values (scalars, lists, mappings) in a Job, after expanding YAML aliases
MAX_INT_DIGITS = 400  # longer integers are refused as written, before Python converts them (int64: 19)
MAX_NAME_IN_PATH = 256  # a list item is named by its parameterName in a field path only up to this length
_SHOW_LIMIT = 80
_SHOW_ITEMS = 4
_LEAVES = (str, bool, int, float, type(None))
# What YAML's safe loader also builds (timestamps, !!binary, !!set): leaves the schema check reports by type.
_YAML_LEAVES = (date, bytes, set, frozenset)


def int_digits(value: int) -> int:
    """Decimal digits of ``value`` without formatting it (str() of a 5,000-digit int raises ValueError)."""
    bits = abs(value).bit_length()
    if bits <= 64:
        return len(str(abs(value)))
    return int(bits * math.log10(2)) + 1


def parse_int_text(text: str) -> int | None:
    """The integer a string of digits (optional sign) spells, or None if it is not one or has too many digits."""
    stripped = text.strip()
    digits = stripped.lstrip("+-")
    if not digits.isascii() or not digits.isdigit() or len(stripped) - len(digits) > 1:
        return None
    if len(digits.lstrip("0")) > MAX_INT_DIGITS:
        return None
    return int(stripped)


def type_name(value: Any) -> str:
    """The JSON name of ``value``'s type (what a YAML/JSON user wrote), else its Python type name."""
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


def show(value: Any, limit: int = _SHOW_LIMIT) -> str:
    """A short repr of ``value`` for an error message: at most ``limit`` characters, built without
    formatting the whole value (a YAML alias bomb or a 100,000-digit int is summarised, not printed)."""
    text = _show(value, limit, 2)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: Any, limit: int, level: int) -> str:
    if isinstance(value, str | bytes):
        head = repr(value[: limit + 1])
        return head if len(value) <= limit else head[:limit] + "..."
    if isinstance(value, bool | float | date) or value is None:
        return repr(value)
    if isinstance(value, int):
        digits = int_digits(value)
        return repr(int(value)) if digits <= limit else f"<an integer of {digits} digits>"
    if isinstance(value, dict | list | tuple):
        return _show_container(value, limit, level)
    return f"<{type(value).__name__}>"


def _show_container(value: dict[Any, Any] | list[Any] | tuple[Any, ...], limit: int, level: int) -> str:
    opening, closing = ("{", "}") if isinstance(value, dict) else ("(", ")") if isinstance(value, tuple) else ("[", "]")
    if not value:
        return opening + closing
    if level <= 0:
        return opening + "..." + closing
    parts: list[str] = []
    size = 0
    items = value.items() if isinstance(value, dict) else value
    for index, item in enumerate(items):
        if index >= _SHOW_ITEMS or size > limit:
            parts.append("...")
            break
        if isinstance(value, dict):
            key, val = item
            part = f"{_show(key, limit, 0)}: {_show(val, limit, level - 1)}"
        else:
            part = _show(item, limit, level - 1)
        parts.append(part)
        size += len(part) + 2
    return opening + ", ".join(parts) + closing


def _where(path: str, key: Any) -> str:
    """``path.key``; a key that is not a non-empty string is shown quoted, so an empty key still names a field."""
    label = key if isinstance(key, str) and key else show(key, 40)
    return f"{path}.{label}" if path else label


def check_shape(value: Any, field: str = "") -> None:
    """Raise InvalidJobSpec unless ``value`` is JSON-shaped and within MAX_DEPTH and MAX_VALUES.

    JSON-shaped: mappings with string (or number/boolean/null: YAML's) keys, lists/tuples, strings, numbers,
    booleans and null (and the dates, bytes and sets YAML builds, which the schema check then reports); no mapping or list inside itself. Walks iteratively, stopping at the first excess,
    so it is safe on any input. ``field`` is the JSON path ``value`` sits at ("" for a whole Job).
    """
    count = 0
    # (value, path, depth, ids of the containers above it, the field two levels down it is counted against)
    stack: list[tuple[Any, str, int, frozenset[int], str]] = [(value, field, 0, frozenset(), field)]
    while stack:
        item, path, depth, above, top = stack.pop()
        top = path if depth <= 2 else top
        count += 1
        if count > MAX_VALUES:
            raise InvalidJobSpec(top or "(body)", f"the Job holds more than {MAX_VALUES} values; that is far more "
                                 "than any training job needs")
        if isinstance(item, _LEAVES + _YAML_LEAVES):
            continue
        if not isinstance(item, dict | list | tuple):
            raise InvalidJobSpec(path or "(body)", f"expected a JSON value (string, number, boolean, null, list or "
                                 f"mapping), got {type_name(item)}")
        if depth >= MAX_DEPTH:
            raise InvalidJobSpec(path or "(body)", f"nested more than {MAX_DEPTH} levels deep")
        if id(item) in above:
            raise InvalidJobSpec(path or "(body)", "contains itself (a mapping or list nested in itself)")
        inner = above | {id(item)}
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, _LEAVES):
                    raise InvalidJobSpec(path or "(body)", f"mapping keys must be strings, got {type_name(key)}")
                stack.append((child, _where(path, key), depth + 1, inner, top))
        else:
            for index, child in enumerate(item):
                stack.append((child, f"{path}[{index}]", depth + 1, inner, top))
