"""The small interface each training backend implements, and the one rule for the region a job lives in.

``TrainingJobHook`` keeps retries, the conflict policy and the wait drivers; a backend (hooks/ml_v1.py,
hooks/vertex.py) knows only how its protocol creates, gets, lists and cancels a job, which logs belong
to a job, where its console page is, and which endpoint serves a region. Each backend method makes
single attempts through the hook's ``call`` (retries are the hook's), and answers in the neutral job
view. Cheap to import: operators use :func:`resolve_region` at DAG parse time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from airflow_provider_trainjobs.hooks.base import ConnectionSettings
    from airflow_provider_trainjobs.hooks.logs import LogCursor
    from airflow_provider_trainjobs.hooks.retry import RetryPolicy


class Call(Protocol):
    """The hook's way of sending one request: ``request(client)`` built on the client for ``region``."""

    def __call__(self, request: Callable[[Any], Any], *, what: str, retries: bool = True,
                 policy: RetryPolicy | None = None, region: str | None = None) -> Any: ...


def resolve_region(body: Mapping[str, Any] | None = None, *, explicit: str | None = None,
                   default: str | None = None, strict: bool = False, required_for: str | None = None) -> str | None:
    """The region a job is created in and looked for: ``explicit`` (an argument), else the body's
    ``trainingInput.region``, else ``default`` (the connection's ``region`` extra).

    ``strict``: an explicit region that differs from the body's is a ``ValueError`` (the job would be created
    in one region and looked for in the other); otherwise the argument wins, as a gcloud flag wins over
    ``--config``. ``required_for`` (a connection id): no region at all is a ``ValueError`` naming it.
    """
    body_region = ((body or {}).get("trainingInput") or {}).get("region") or None
    if strict and body_region and explicit and body_region != explicit:
        raise ValueError(
            f"trainingInput.region is {body_region!r} but this hook was given region={explicit!r}: the job "
            "would be created in one and looked for in the other; pass the same region, or none"
        )
    region = explicit or (str(body_region) if body_region else None) or default
    if not region and required_for is not None:
        raise ValueError(
            f"the vertex backend needs a region: set the 'region' extra on connection "
            f"{required_for!r} or pass region"
        )
    return region


class JobsBackend(ABC):
    """One training protocol behind the hook. ``names`` maps job ids to resource names learnt so far (the
    hook keeps it, so a fresh copy of the hook knows them too)."""

    api: tuple[str, str]  # discovery (name, version) of the jobs API

    def __init__(self, settings: ConnectionSettings, project_id: str, *, conn_id: str, call: Call,
                 explicit_region: str | None = None, names: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.project_id = project_id
        self.conn_id = conn_id
        self.call = call
        self.explicit_region = explicit_region
        self.names = names if names is not None else {}

    @abstractmethod
    def endpoint(self, region: str | None = None) -> str | None:
        """The API endpoint the jobs of ``region`` are served at (None: the discovery document's)."""

    @abstractmethod
    def find(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The job already created for ``job``'s jobId (its neutral view), looked up without creating
        anything; None if there is none. Asked after any create whose outcome is unknown, before sending it
        again, so a create never makes a second job."""

    def find_before_create(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The job to attach to before the first create; None means "create" (a taken id then answers 409)."""
        return self.find(job)

    @abstractmethod
    def create(self, job: dict[str, Any], executor_image_uri: str | None) -> dict[str, Any]:
        """POST ``job`` once; the created job's view (from the answer). A taken jobId raises
        ``TrainingJobApiError(status=409)``."""

    @abstractmethod
    def get(self, job_id: str, *, retries: bool, policy: RetryPolicy | None = None) -> dict[str, Any]:
        """The job's neutral view."""

    @abstractmethod
    def list_jobs(self, filter_: str | None, page_size: int) -> list[dict[str, Any]]:
        """Every job matching ``filter_`` (ml v1 syntax), all pages."""

    @abstractmethod
    def cancel(self, job_id: str, *, policy: RetryPolicy) -> None:
        """Ask the service to cancel the job."""

    @abstractmethod
    def log_id(self, job_id: str) -> str:
        """The ``resource.labels.job_id`` the job's Cloud Logging entries carry."""

    def log_filter(self, job_id: str, cursor: LogCursor) -> str:
        """The Cloud Logging filter of the job's entries at or after ``cursor``'s floor."""
        from airflow_provider_trainjobs.hooks.logs import log_filter

        return log_filter(self.log_id(job_id), cursor)

    @abstractmethod
    def console_url(self, job_id: str, job: dict[str, Any] | None = None) -> str:
        """The job's page (the local service's console, or Google Cloud console's)."""

    def local_console(self, page_id: str) -> str | None:
        """The local service's console page for ``page_id``, when the endpoint is the local service."""
        from urllib.parse import quote

        endpoint = self.settings.api_endpoint
        if self.settings.is_local and endpoint:
            return f"{endpoint.rstrip('/')}/console/jobs/{quote(page_id, safe='')}?project={self.project_id}"
        return None


def backend_class(backend: str) -> type[JobsBackend]:
    """The class serving ``backend`` ("ai-platform" or "vertex"), imported on demand."""
    if backend == "vertex":
        from airflow_provider_trainjobs.hooks.vertex import VertexJobs

        return VertexJobs
    from airflow_provider_trainjobs.hooks.ml_v1 import MlV1Jobs

    return MlV1Jobs
