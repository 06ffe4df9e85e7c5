"""Paths built from request data (project, job id, bucket, object name), confined to a root directory."""

from __future__ import annotations

from pathlib import Path


class OutsideRoot(ValueError):
    """A path built from request data would leave its root (absolute name, ``..``, NUL byte)."""


def confined(root: Path, *parts: str) -> Path:
    """``root / parts...`` resolved, or OutsideRoot when it is not strictly under the resolved ``root``."""
    if any("\0" in part for part in parts):
        raise OutsideRoot(f"{'/'.join(parts)!r}: contains a NUL byte")
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    if path == base or not path.is_relative_to(base):
        raise OutsideRoot(f"{'/'.join(parts)!r}: leaves {base}")
    return path
