"""Creating a job exactly once, and how an existing job's spec differs from the one being created.

A create whose outcome is unknown (its answer lost, a 429 or 5xx) is never simply sent again: the job is looked
up first (``JobsBackend.find``: by jobId on ml v1, by label and displayName on Vertex) and, when found, taken
as this call's own. The transport never re-sends a POST by itself (hooks/clients.py). What the hook then does
with an existing job (attach, conflict, suffix) is its conflict policy (``TrainingJobHook.create_job``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_trainjobs.hooks.backend import JobsBackend
from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError
from airflow_provider_trainjobs.hooks.retry import RetryPolicy, call_with_retries


def create_once(backend: JobsBackend, job: dict[str, Any], executor_image_uri: str | None, *, policy: RetryPolicy,
                get: Callable[[str], dict[str, Any]]) -> tuple[dict[str, Any], bool, bool]:
    """Create ``job`` retrying transient failures: ``(view, existed, retried)``: the created job's view (from the
    create's own answer) or the existing one's (``get`` reads it after a 409), where ``retried`` says a create
    was sent more than once (so the existing job may be this call's own)."""
    job_id = job["jobId"]
    attempts = 0

    def once() -> tuple[dict[str, Any], bool]:
        nonlocal attempts
        attempts += 1
        if attempts > 1:
            found = backend.find(job)
            if found is not None:
                return found, True
        return backend.create(job, executor_image_uri), False

    try:
        existing = backend.find_before_create(job)
        if existing is not None:
            return existing, True, False
        view, found = call_with_retries(once, what=f"creating job {job_id}", policy=policy)
        return view, found, found
    except TrainingJobApiError as err:
        if err.status != 409:
            raise
    return get(job_id), True, attempts > 1


def spec_differences(existing: dict[str, Any], job: dict[str, Any]) -> list[str]:
    """Fields in which ``job`` differs from the ``existing`` job; empty when the fingerprints match."""
    from airflow_provider_trainjobs.spec import job_fingerprint

    if job_fingerprint(existing) == job_fingerprint(job):
        return []
    ours = job.get("trainingInput") or {}
    theirs = existing.get("trainingInput") or {}
    fields = sorted(f"trainingInput.{k}" for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    if (job.get("labels") or {}) != (existing.get("labels") or {}):
        fields.append("labels")
    return fields or ["trainingInput"]
