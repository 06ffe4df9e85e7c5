"""What one engine run carries (its in-memory state, the exceptions that stop it) and the pure pieces of a
job record's life: the record a create starts with, the labels a patch sets, the line and outcome it ends with."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_trainjobs.local.cluster import Cluster
from airflow_provider_trainjobs.local.gcs_view import GcsView
from airflow_provider_trainjobs.local.timestamps import rfc3339


def labels_etag(labels: dict[str, str] | None) -> str:
    digest = hashlib.sha256(json.dumps(labels or {}, sort_keys=True).encode()).digest()[:8]
    return base64.b64encode(digest).decode()


@dataclass
class Run:
    """In-memory state of a job being prepared or run."""

    project: str
    job_id: str
    cancel: threading.Event = field(default_factory=threading.Event)
    clusters: list[Cluster] = field(default_factory=list)
    thread: threading.Thread | None = None
    gcs: GcsView | None = None


class Deadline(Exception):
    """Raised inside a run when a scheduling limit passed; the message is the job's errorMessage."""


class Cancelled(Exception):
    """Raised inside a run when the user cancelled it."""


def queued_record(body: dict[str, Any]) -> dict[str, Any]:
    """The record of a job just created from ``body``: output-only fields dropped, QUEUED now."""
    job = copy.deepcopy(body)
    for key in ("state", "createTime", "startTime", "endTime", "errorMessage", "trainingOutput", "etag"):
        job.pop(key, None)
    job.update(createTime=rfc3339(time.time()), state="QUEUED", etag=labels_etag(job.get("labels")))
    output = initial_output(job)
    if output:
        job["trainingOutput"] = output
    return job


def stopped_outcome(job: dict[str, Any]) -> tuple[str, str]:
    """(state, errorMessage) of a job whose run the service stopped, or lost in a crash."""
    if job["state"] == "CANCELLING":
        return "CANCELLED", job.get("errorMessage") or "Job cancelled by the user."
    return "FAILED", (f"The local service stopped while this job was {job['state']}; running jobs are not resumed"
                      " after a restart. Submit it again under a new jobId.")


def initial_output(job: dict[str, Any]) -> dict[str, Any] | None:
    """The trainingOutput a new hyperparameter tuning job starts with (None for a plain training job)."""
    hp = (job.get("trainingInput") or {}).get("hyperparameters")
    if not hp:
        return None
    return {
        "isHyperparameterTuningJob": True,
        "completedTrialCount": "0",
        "hyperparameterMetricTag": hp.get("hyperparameterMetricTag") or "training/hptuning/metric",
        "trials": [],
    }


def patched_labels(body: dict[str, Any], update_mask: str) -> dict[str, str]:
    """The labels a jobs.patch body sets; ValueError naming the field when the request is not one."""
    fields = [f.strip() for f in (update_mask or "").split(",") if f.strip()]
    if fields != ["labels"]:
        raise ValueError(f"updateMask: only 'labels' can be updated; got {update_mask!r}")
    labels = body.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ValueError("labels: must be a map of strings to strings")
    return labels


def end_line(state: str, message: str | None) -> tuple[str, str]:
    """(severity, message) of the log line that ends a job."""
    if state == "SUCCEEDED":
        return "INFO", "Job completed successfully."
    if state == "FAILED":
        return "ERROR", f"Job failed: {message}"
    return "INFO", f"Job cancelled: {message}"
