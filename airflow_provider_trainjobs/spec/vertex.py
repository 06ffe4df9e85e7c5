"""The seeds' Job resource (ml v1) as a Vertex AI CustomJob / HyperparameterTuningJob, and back.

``to_vertex_job`` (``vertex_request``) is the request body a Vertex ``create`` needs; ``from_vertex_job``
(``vertex_view``) turns what Vertex returns into the neutral job view (the ml v1 Job shape every hook
method returns); ``vertex_names`` holds the collections, reserved labels and states both share. This
module is the one place importers name. Pure logic: no network, no Google client imports.
"""

from __future__ import annotations

from .results import DEFAULT_METRIC_TAG
from .vertex_names import (
    CUSTOM_JOBS,
    MAX_WAIT_LABEL,
    TRAINING_INPUT_ENV,
    TUNING_JOBS,
    VERTEX_JOB_ID_LABEL,
    VERTEX_STATES,
    VERTEX_TERMINAL_STATES,
    vertex_kind,
    vertex_label_value,
    vertex_state,
)
from .vertex_request import to_vertex_job
from .vertex_view import from_vertex_job

__all__ = [
    "CUSTOM_JOBS",
    "DEFAULT_METRIC_TAG",
    "MAX_WAIT_LABEL",
    "TRAINING_INPUT_ENV",
    "TUNING_JOBS",
    "VERTEX_JOB_ID_LABEL",
    "VERTEX_STATES",
    "VERTEX_TERMINAL_STATES",
    "from_vertex_job",
    "to_vertex_job",
    "vertex_kind",
    "vertex_label_value",
    "vertex_state",
]

