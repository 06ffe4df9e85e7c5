"""Pure job-spec logic: build and validate the ml v1 Job body, parse durations, pick the best trial.

No network and no heavy imports here: DAG files import this package at parse time.
``to_vertex_job``/``from_vertex_job`` live in ``.vertex`` and are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .build import build_training_job, load_config
from .durations import format_duration, parse_duration
from .errors import InvalidJobSpec
from .results import best_trial, job_fingerprint
from .schema import validate_resource
from .validation import validate_job

if TYPE_CHECKING:
    from .vertex import from_vertex_job, to_vertex_job

# Names served from .vertex on first use (that module is heavier and owned separately).
_VERTEX_NAMES = ("from_vertex_job", "to_vertex_job")

__all__ = [
    "InvalidJobSpec",
    "best_trial",
    "build_training_job",
    "format_duration",
    "from_vertex_job",
    "job_fingerprint",
    "load_config",
    "parse_duration",
    "to_vertex_job",
    "validate_job",
    "validate_resource",
]


def __getattr__(name: str) -> Any:
    if name in _VERTEX_NAMES:
        from . import vertex

        return getattr(vertex, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
