"""The local service's request limits: body caps, the read timeout, the listen backlog (``serve`` options).

A request body over its surface's cap is refused with 413 before it is read; a connection that sends
nothing for ``read_timeout`` seconds is closed, so half-open connections do not hold threads.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

MIB = 1024 * 1024
DEFAULT_MAX_REQUEST_BYTES = 32 * MIB
DEFAULT_MAX_UPLOAD_BYTES = 1024 * MIB
DEFAULT_READ_TIMEOUT = 60.0
LISTEN_BACKLOG = 128


@dataclass(frozen=True)
class Limits:
    """``max_request_bytes`` caps API bodies; ``max_upload_bytes`` caps one storage emulator request."""

    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    read_timeout: float = DEFAULT_READ_TIMEOUT


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of bytes; got {text}")
    return value


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds; got {text}")
    return value


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """The ``serve``/``up`` options that set ``Limits``."""
    parser.add_argument("--max-request-bytes", type=_positive_int, default=DEFAULT_MAX_REQUEST_BYTES,
                        help="largest API request body; bigger ones get 413 unread (default 32 MiB)")
    parser.add_argument("--max-upload-bytes", type=_positive_int, default=DEFAULT_MAX_UPLOAD_BYTES,
                        help="largest storage emulator request body (default 1 GiB)")
    parser.add_argument("--read-timeout", type=_positive_seconds, default=DEFAULT_READ_TIMEOUT,
                        help="seconds a connection may stay silent before it is closed (default 60)")


def limits_from_args(args: argparse.Namespace) -> Limits:
    return Limits(
        max_request_bytes=getattr(args, "max_request_bytes", DEFAULT_MAX_REQUEST_BYTES),
        max_upload_bytes=getattr(args, "max_upload_bytes", DEFAULT_MAX_UPLOAD_BYTES),
        read_timeout=getattr(args, "read_timeout", DEFAULT_READ_TIMEOUT),
    )
