"""Trigger tests reuse the hook tests' tiny trainer fixtures (loaded by path: test dirs are not packages)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_PATH = Path(__file__).resolve().parent.parent / "hooks" / "tiny_trainer.py"
if "tiny_trainer" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("tiny_trainer", _PATH)
    assert _spec is not None and _spec.loader is not None
    sys.modules["tiny_trainer"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["tiny_trainer"])

from tiny_trainer import (  # noqa: E402,F401 - fixtures
    backend_conn,
    lenient_conn,
    lenient_service,
    no_faults,
    tiny_package,
    tiny_sdist,
    vertex_available,
)
