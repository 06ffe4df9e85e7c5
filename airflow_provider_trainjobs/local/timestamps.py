"""RFC 3339 timestamps as Google APIs write them, to and from UNIX time (exact microseconds for log entries)."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(ts: float) -> str:
    """A UNIX time as the RFC 3339 UTC string Google APIs use (microseconds, ``Z``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_us(micros: int) -> str:
    """Microseconds since the epoch as an exact RFC 3339 string (log timestamps round-trip through filters)."""
    return datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )


def parse_rfc3339_us(text: str) -> int:
    """An RFC 3339 timestamp as integer microseconds since the epoch (exact, no float rounding)."""
    head, dot, rest = text.strip().partition(".")
    digits = ""
    if dot:
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
    whole = round(parse_rfc3339(head + rest))
    fraction = int((digits + "000000")[:6])
    return whole * 1_000_000 + fraction


def parse_rfc3339(text: str) -> float:
    """Parse an RFC 3339 timestamp (any fraction length, ``Z`` or offset) to UNIX time."""
    value = text.strip().replace("Z", "+00:00")
    if "." in value:
        head, _, rest = value.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        value = f"{head}.{(digits + '000000')[:6]}{rest}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
