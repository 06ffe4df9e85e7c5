"""Durations as Google writes them ("3600s") and as Python users write them (seconds, timedelta)."""

from __future__ import annotations

import math
import re
from datetime import timedelta

__all__ = ["format_duration", "parse_duration"]

_DURATION_RE = re.compile(r"^\s*(-?\d+(?:\.\d{1,9})?)s\s*$")


def parse_duration(value: str | int | float | timedelta) -> float:
    """Seconds in ``value``: a Google duration string ("3600s", "1.5s"), a number of seconds or a timedelta."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration: use seconds with an 's' suffix, e.g. '3600s'")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite duration")
        return float(value)
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            return float(match.group(1))
    raise ValueError(f"{value!r} is not a duration: use seconds with an 's' suffix, e.g. '3600s'")


def format_duration(seconds: str | int | float | timedelta) -> str:
    """``seconds`` (anything parse_duration takes) as a Google duration string: "3600s", "1.5s"."""
    total = parse_duration(seconds)
    if total.is_integer():
        return f"{int(total)}s"
    return f"{total:.9f}".rstrip("0").rstrip(".") + "s"
