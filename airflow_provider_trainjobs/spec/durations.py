"""Durations as Google writes them ("3600s") and as Python users write them (seconds, timedelta).

The one duration parser of the project: arguments, config files, the schema check and the local service all
use it, so a value is accepted everywhere or nowhere. Strings follow the protobuf JSON form of
``google.protobuf.Duration`` (seconds with up to 9 decimals and an ``s`` suffix, no spaces), bounded as
protobuf bounds it: at most 315,576,000,000 s (10,000 years) either way.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

from .limits import show as _short

__all__ = ["MAX_DURATION_SECONDS", "format_duration", "optional_duration", "parse_duration"]

MAX_DURATION_SECONDS = 315_576_000_000  # protobuf Duration's range: +-10,000 years
_DURATION_RE = re.compile(r"^(-?)(\d+)(?:\.(\d{1,9}))?s$")
_HINT = "use seconds with an 's' suffix, e.g. '3600s'"


def _too_long() -> ValueError:
    return ValueError(f"is out of range: a duration is at most {MAX_DURATION_SECONDS}s (10,000 years)")


def parse_duration(value: str | int | float | timedelta) -> float:
    """Seconds in ``value``: a Google duration string ("3600s", "1.5s"), a number of seconds or a timedelta.

    ValueError (its message says what is wrong with the value) for anything else, and for values that are
    not finite or are beyond MAX_DURATION_SECONDS.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration: {_HINT}")
    elif isinstance(value, int):
        if abs(value) > MAX_DURATION_SECONDS:
            raise ValueError(f"{_short(value)} {_too_long()}")
        return float(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a finite duration")
        seconds = value
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if not match:
            raise ValueError(f"{_short(value)} is not a duration: {_HINT}")
        sign, whole, fraction = match.groups()
        if len(whole.lstrip("0")) > len(str(MAX_DURATION_SECONDS)):
            raise ValueError(f"{_short(value)} {_too_long()}")
        seconds = float(f"{sign}{whole}.{fraction or 0}")
    else:
        raise ValueError(f"{_short(value)} is not a duration: {_HINT}")
    if abs(seconds) > MAX_DURATION_SECONDS:
        raise ValueError(f"{_short(value)} {_too_long()}")
    return seconds


def optional_duration(value: Any, default: float | None = None) -> float | None:
    """``parse_duration(value)``, or ``default`` when the field is unset (None or "")."""
    if value is None or (isinstance(value, str) and not value):
        return default
    return parse_duration(value)


def format_duration(seconds: str | int | float | timedelta) -> str:
    """``seconds`` (anything parse_duration takes) as a Google duration string: "3600s", "1.5s"."""
    total = parse_duration(seconds)
    if total.is_integer():
        return f"{int(total)}s"
    return f"{total:.9f}".rstrip("0").rstrip(".") + "s"
