"""The Vertex AI backend (``aiplatform`` v1 CustomJob / HyperparameterTuningJob): jobs found by their jobId.

Vertex assigns each job a numeric id, so the user's jobId travels as the displayName and the
``trainjobs_job_id`` label (spec/vertex.py builds the body) and the job is found again with a server-side
list filter on both. Jobs live in a region: ``trainingInput.region``, else the hook's/connection's; without
an ``api_endpoint`` each region has its own endpoint. Answers pass through ``spec.vertex.from_vertex_job``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from airflow_provider_trainjobs.hooks.backend import JobsBackend, resolve_region
from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError
from airflow_provider_trainjobs.hooks.retry import RetryPolicy
from airflow_provider_trainjobs.spec.vertex import (
    CUSTOM_JOBS,
    TUNING_JOBS,
    VERTEX_JOB_ID_LABEL,
    from_vertex_job,
    to_vertex_job,
    vertex_kind,
    vertex_label_value,
)

KINDS = (CUSTOM_JOBS, TUNING_JOBS)


class VertexJobs(JobsBackend):
    """Jobs on ``aiplatform`` v1 at ``api_endpoint`` or ``https://<region>-aiplatform.googleapis.com``."""

    api = ("aiplatform", "v1")

    def region(self, job: dict[str, Any] | None = None) -> str:
        """Where ``job`` is created and looked for (without a job: the hook's/connection's region)."""
        region = resolve_region(job, explicit=self.explicit_region, default=self.settings.region, strict=True,
                                required_for=self.conn_id)
        assert region is not None  # required_for raises first
        return region

    def endpoint(self, region: str | None = None) -> str | None:
        return self.settings.api_endpoint or f"https://{region or self.region()}-aiplatform.googleapis.com"

    def parent(self, region: str | None = None) -> str:
        return f"projects/{self.project_id}/locations/{region or self.region()}"

    def find(self, job: dict[str, Any]) -> dict[str, Any] | None:
        return self._find(job["jobId"], self.region(job), (vertex_kind(job),))

    def create(self, job: dict[str, Any], executor_image_uri: str | None) -> dict[str, Any]:
        job_id, kind, region = job["jobId"], vertex_kind(job), self.region(job)
        body = to_vertex_job(job, executor_image_uri=executor_image_uri)
        resource: dict[str, Any] = self.call(
            lambda c: getattr(c.projects().locations(), kind)().create(parent=self.parent(region), body=body),
            what=f"creating job {job_id}", retries=False, region=region)
        self.names[job_id] = resource["name"]
        return _view(resource, kind)

    def get(self, job_id: str, *, retries: bool, policy: RetryPolicy | None = None) -> dict[str, Any]:
        name = self.name(job_id)
        kind = kind_of(name)
        resource = self.call(lambda c: getattr(c.projects().locations(), kind)().get(name=name),
                             what=f"getting job {job_id}", retries=retries, policy=policy, region=location(name))
        return _view(resource, kind)

    def list_jobs(self, filter_: str | None, page_size: int) -> list[dict[str, Any]]:
        from airflow_provider_trainjobs.hooks.vertex_filter import to_vertex_filter

        vertex_filter = to_vertex_filter(filter_) if filter_ else None
        jobs: list[dict[str, Any]] = []
        for kind in KINDS:
            jobs.extend(_view(r, kind) for r in self._list(kind, vertex_filter, page_size))
        return jobs

    def cancel(self, job_id: str, *, policy: RetryPolicy) -> None:
        name = self.name(job_id)
        kind = kind_of(name)
        self.call(lambda c: getattr(c.projects().locations(), kind)().cancel(name=name, body={}),
                  what=f"cancelling job {job_id}", policy=policy, region=location(name))

    def log_id(self, job_id: str) -> str:
        return self.name(job_id).rsplit("/", 1)[-1]

    def console_url(self, job_id: str, job: dict[str, Any] | None = None) -> str:
        """Vertex jobs are addressed by their resource id, in the location their resource name says (Google
        Cloud console's training page; the same page form for custom and tuning jobs)."""
        name = (job or {}).get("vertexName") or self.names.get(job_id) or self.name(job_id)
        page_id = name.rsplit("/", 1)[-1]
        return self.local_console(page_id) or (
            f"https://console.cloud.google.com/vertex-ai/locations/{location(name) or self.region()}"
            f"/training/{page_id}/cpu?project={self.project_id}")

    def name(self, job_id: str) -> str:
        """The resource name of the Vertex job for ``job_id`` (a full name is accepted as is)."""
        if "/" in job_id:
            return job_id
        if job_id not in self.names and self._find(job_id) is None:
            raise TrainingJobApiError(f"getting job {job_id} failed: HTTP 404: no Vertex AI job with "
                                      f"displayName {job_id!r} in {self.parent()}", status=404)
        return self.names[job_id]

    def _find(self, job_id: str, region: str | None = None, kinds: tuple[str, ...] = KINDS) -> dict[str, Any] | None:
        """The Vertex job created for ``job_id`` in ``region`` (default: the hook's), found server-side by its
        ``trainjobs_job_id`` label and displayName, among ``kinds``."""
        if "/" in job_id:
            return self.get(job_id, retries=True)
        wanted = f'labels.{VERTEX_JOB_ID_LABEL}="{vertex_label_value(job_id)}" AND display_name="{job_id}"'
        for kind in kinds:
            for resource in self._list(kind, wanted, 100, region):
                if resource.get("displayName") == job_id:
                    self.names[job_id] = resource["name"]
                    return _view(resource, kind)
        return None

    def _list(self, kind: str, filter_: str | None, page_size: int, region: str | None = None) -> list[dict[str, Any]]:
        resources: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"parent": self.parent(region), "pageSize": page_size}
            if filter_:
                params["filter"] = filter_
            if token:
                params["pageToken"] = token
            response = self.call(partial(_list, kind=kind, params=params), what=f"listing {kind}", region=region)
            resources.extend(response.get(kind) or [])
            token = response.get("nextPageToken")
            if not token:
                return resources


def _list(client: Any, *, kind: str, params: dict[str, Any]) -> Any:
    return getattr(client.projects().locations(), kind)().list(**params)


def location(name: str) -> str | None:
    """``us-central1`` from ``projects/p/locations/us-central1/customJobs/123``."""
    parts = name.split("/")
    return parts[parts.index("locations") + 1] if "locations" in parts[:-1] else None


def kind_of(name: str) -> str:
    """The collection a resource name belongs to."""
    return TUNING_JOBS if f"/{TUNING_JOBS}/" in name else CUSTOM_JOBS


def _view(resource: dict[str, Any], kind: str) -> dict[str, Any]:
    view: dict[str, Any] = from_vertex_job(resource, kind)
    return view
