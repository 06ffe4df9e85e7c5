"""The errors a training job can end a task with, each carrying what the user needs to act on it.

Kept free of Google client imports so operators and triggers can import them at DAG parse time.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.sdk.exceptions import AirflowException


class TrainingJobApiError(AirflowException):
    """A Google API call failed: the HTTP status (None for a connection error) and Google's own message.

    ``transient`` is True for throttling (429), server errors (5xx) and connection failures, the
    errors that a retry may cure; when raised, the retries have already been spent.
    """

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None,
                 transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.transient = transient

    @classmethod
    def from_http_error(cls, err: Any, what: str) -> TrainingJobApiError:
        """Translate a ``googleapiclient.errors.HttpError`` keeping the status and the server's message."""
        status = int(getattr(getattr(err, "resp", None), "status", 0) or 0) or None
        message, reason = _google_error(getattr(err, "content", b""))
        if not message:
            message = getattr(err, "reason", None) or str(err)
        transient = status is not None and (status == 429 or status >= 500)
        return cls(f"{what} failed: HTTP {status} {reason or ''}".rstrip() + f": {message}",
                   status=status, reason=reason, transient=transient)


def unreachable(what: str, url: str, err: BaseException) -> TrainingJobApiError:
    """A connection failure naming the endpoint it could not reach; for a loopback endpoint (the local service)
    the hint says how to check it is running."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    endpoint = f"{parsed.scheme}://{parsed.netloc}" if parsed.netloc else url
    host = parsed.hostname or ""
    hint = ""
    if host in ("localhost", "::1") or host.startswith("127."):
        hint = "; is the local service running? `trainjobs-local status` says, `trainjobs-local up` starts it"
    return TrainingJobApiError(f"{what} failed: connection error: cannot reach {endpoint} ({err!r}){hint}",
                               transient=True)


def _google_error(content: bytes | str) -> tuple[str | None, str | None]:
    """Pull ``error.message`` and ``error.status`` out of a Google JSON error body."""
    try:
        body = json.loads(content.decode() if isinstance(content, bytes) else content)
    except (ValueError, UnicodeDecodeError):
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    return error.get("message"), error.get("status")


class TrainingJobFailed(AirflowException):
    """The job ended FAILED or CANCELLED; the message carries the job's errorMessage."""

    def __init__(self, message: str, *, job: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.job = job or {}


class TrainingJobDeadlineExceeded(TrainingJobFailed):
    """The job passed ``maxWaitTime`` or ``maxRunningTime`` (plus grace); ``limit`` names which."""

    def __init__(self, message: str, *, job: dict[str, Any] | None = None, limit: str) -> None:
        super().__init__(message, job=job)
        self.limit = limit


class JobSpecConflict(AirflowException):
    """A job with this id already exists with a different spec; ``fields`` names what differs."""

    def __init__(self, job_id: str, fields: list[str]) -> None:
        listed = ", ".join(fields) or "the job body"
        super().__init__(
            f"job {job_id!r} already exists with a different spec (differs in: {listed}); "
            "give a new job_id, or pass on_conflict='suffix' to create the job under a new id"
        )
        self.job_id = job_id
        self.fields = fields
