"""Names derived from an Airflow run: deterministic job ids and label values that pass the service's rules.

A job id derived from ``(dag_id, task_id, run_id, map_index)`` is the same on every try of a task instance, so
a retry re-attaches to the job the first try created instead of submitting a second one; each map index of a
mapped task gets its own. :func:`resubmit_job_id` names the jobs that replace a failed or cancelled one.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["JOB_ID_MAX_LENGTH", "LABEL_VALUE_MAX_LENGTH", "default_job_id", "is_valid_job_id",
           "resubmit_job_id", "sanitize_label_value"]

from airflow_provider_trainjobs.spec.rules import JOB_ID_RE, MAX_LABEL_LENGTH

JOB_ID_MAX_LENGTH = 128  # what spec.rules.JOB_ID_RE allows
LABEL_VALUE_MAX_LENGTH = MAX_LABEL_LENGTH
_HASH_LENGTH = 8


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:_HASH_LENGTH]


def is_valid_job_id(job_id: str) -> bool:
    """True for letters, digits and underscores starting with a letter, at most 128 characters."""
    return JOB_ID_RE.fullmatch(job_id) is not None  # the rule the service applies to a submitted jobId


def default_job_id(dag_id: str, task_id: str, run_id: str, map_index: int | None = -1) -> str:
    """A valid, readable job id that depends only on the dag, task, run and map index (not on the try number).

    Characters outside ``[A-Za-z0-9_]`` become ``_``; a short hash of the exact inputs is appended so that
    two runs whose ids differ only in replaced characters (or past the truncation point) never collide.
    A mapped task instance (``map_index >= 0``) ends in ``_m<map_index>``, so its siblings never share a job.
    """
    readable = re.sub(r"[^A-Za-z0-9]+", "_", f"{dag_id}_{task_id}_{run_id}").strip("_")
    if not readable[:1].isalpha():
        readable = "job_" + readable
    suffix = "_" + _short_hash(dag_id, task_id, run_id)
    if map_index is not None and map_index >= 0:
        suffix += f"_m{map_index}"
    readable = readable[: JOB_ID_MAX_LENGTH - len(suffix)].rstrip("_")
    return readable + suffix


def resubmit_job_id(base: str, attempt: int) -> str:
    """The id of the ``attempt``-th job submitted for ``base``: ``base`` itself, then ``<base>_r2``, ``_r3``, ...

    A valid ``base`` gives a valid id: when ``<base>_r<n>`` would pass 128 characters, ``base`` is shortened and
    a hash of it kept, so two long bases never share a resubmitted id.
    """
    if attempt < 1:
        raise ValueError(f"attempt must be >= 1; got {attempt}")
    if attempt == 1:
        return base
    suffix = f"_r{attempt}"
    if len(base) + len(suffix) <= JOB_ID_MAX_LENGTH:
        return base + suffix
    hashed = "_" + _short_hash(base)
    return base[: JOB_ID_MAX_LENGTH - len(suffix) - len(hashed)].rstrip("_") + hashed + suffix


def sanitize_label_value(value: str) -> str:
    """Map any string to a label value: lowercase letters, digits, ``_`` and ``-``, at most 63 characters.

    Other characters become ``-``. A value that has to be shortened keeps a hash of the original at its end,
    so distinct long values stay distinct.
    """
    cleaned = re.sub(r"[^a-z0-9_-]", "-", value.lower())
    if len(cleaned) <= LABEL_VALUE_MAX_LENGTH:
        return cleaned
    suffix = "-" + _short_hash(value)
    return cleaned[: LABEL_VALUE_MAX_LENGTH - len(suffix)] + suffix
