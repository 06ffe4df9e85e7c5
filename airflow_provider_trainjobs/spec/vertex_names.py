"""Vertex AI names the translation in both directions shares: collections, reserved labels, states.

The user's jobId travels as the displayName and as the ``trainjobs_job_id`` label (Vertex assigns job ids),
and the original trainingInput travels in the primary pool's environment. Pure data, no imports of weight.
"""

from __future__ import annotations

from typing import Any

from .rules import MAX_LABEL_LENGTH

__all__ = [
    "CUSTOM_JOBS",
    "MAX_WAIT_LABEL",
    "ROLES",
    "SCALE_TYPES",
    "SCHEMAS",
    "TRAINING_INPUT_ENV",
    "TUNING_JOBS",
    "VERTEX_JOB_ID_LABEL",
    "VERTEX_STATES",
    "VERTEX_TERMINAL_STATES",
    "vertex_kind",
    "vertex_label_value",
    "vertex_state",
]

CUSTOM_JOBS = "customJobs"
TUNING_JOBS = "hyperparameterTuningJobs"
SCHEMAS = {CUSTOM_JOBS: "GoogleCloudAiplatformV1CustomJob", TUNING_JOBS: "GoogleCloudAiplatformV1HyperparameterTuningJob"}

VERTEX_JOB_ID_LABEL = "trainjobs_job_id"
# Vertex only honours Scheduling.maxWaitDuration with the FLEX_START strategy, so maxWaitTime is kept as a
# label and enforced by the waiter (client side).
MAX_WAIT_LABEL = "trainjobs_max_wait_time"
TRAINING_INPUT_ENV = "TRAINJOBS_TRAINING_INPUT"

VERTEX_STATES = {
    "JOB_STATE_UNSPECIFIED": "STATE_UNSPECIFIED",
    "JOB_STATE_QUEUED": "QUEUED",
    "JOB_STATE_PENDING": "PREPARING",
    "JOB_STATE_RUNNING": "RUNNING",
    "JOB_STATE_SUCCEEDED": "SUCCEEDED",
    "JOB_STATE_FAILED": "FAILED",
    "JOB_STATE_CANCELLING": "CANCELLING",
    "JOB_STATE_CANCELLED": "CANCELLED",
    "JOB_STATE_PAUSED": "RUNNING",
    "JOB_STATE_EXPIRED": "FAILED",
    "JOB_STATE_UPDATING": "RUNNING",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "FAILED",
}
VERTEX_TERMINAL_STATES = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)
SCALE_TYPES = ("UNIT_LINEAR_SCALE", "UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
# (machine type field, count field, config field) per pool 1..3; pool 0 is the master.
ROLES = (
    ("workerType", "workerCount", "workerConfig"),
    ("parameterServerType", "parameterServerCount", "parameterServerConfig"),
    ("evaluatorType", "evaluatorCount", "evaluatorConfig"),
)


def vertex_kind(job: dict[str, Any]) -> str:
    """The Vertex collection ``job`` is created in: "hyperparameterTuningJobs" when it tunes, else "customJobs"."""
    training_input = job.get("trainingInput") or {}
    return TUNING_JOBS if training_input.get("hyperparameters") else CUSTOM_JOBS


def vertex_label_value(job_id: str) -> str:
    """The ``trainjobs_job_id`` label value for a jobId (labels allow only lowercase, at most 63 chars)."""
    return job_id.lower()[:MAX_LABEL_LENGTH]


def vertex_state(state: str | None) -> str:
    """A Vertex JobState as an ml v1 state; unknown values keep waiting as STATE_UNSPECIFIED."""
    return VERTEX_STATES.get(state or "", "STATE_UNSPECIFIED")
