"""The ``ml`` v1 backend (AI Platform Training's protocol, and the local service's): jobs keyed by jobId.

``projects.jobs.create/get/list/cancel`` on ``projects/<project>``; the answers already are the neutral
job view. A taken jobId answers 409, so a create needs no look-up before its first POST.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from airflow_provider_trainjobs.hooks.backend import JobsBackend
from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError
from airflow_provider_trainjobs.hooks.retry import RetryPolicy


class MlV1Jobs(JobsBackend):
    """Jobs on ``ml`` v1 at the connection's ``api_endpoint`` (default ``ml.googleapis.com``)."""

    api = ("ml", "v1")

    def endpoint(self, region: str | None = None) -> str | None:
        return self.settings.api_endpoint

    def _name(self, job_id: str) -> str:
        return f"projects/{self.project_id}/jobs/{job_id}"

    def find(self, job: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self.get(job["jobId"], retries=True)
        except TrainingJobApiError as err:
            if err.status == 404:
                return None
            raise

    def find_before_create(self, job: dict[str, Any]) -> dict[str, Any] | None:
        return None  # the jobId is the key: the POST itself answers 409 when it is taken

    def create(self, job: dict[str, Any], executor_image_uri: str | None) -> dict[str, Any]:
        parent = f"projects/{self.project_id}"
        created: dict[str, Any] = self.call(lambda c: c.projects().jobs().create(parent=parent, body=job),
                                            what=f"creating job {job['jobId']}", retries=False)
        return created

    def get(self, job_id: str, *, retries: bool, policy: RetryPolicy | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self.call(lambda c: c.projects().jobs().get(name=self._name(job_id)),
                                           what=f"getting job {job_id}", retries=retries, policy=policy)
        return result

    def list_jobs(self, filter_: str | None, page_size: int) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"parent": f"projects/{self.project_id}", "pageSize": page_size}
            if filter_:
                params["filter"] = filter_
            if token:
                params["pageToken"] = token
            response = self.call(partial(_list, params=params), what="listing jobs")
            jobs.extend(response.get("jobs") or [])
            token = response.get("nextPageToken")
            if not token:
                return jobs

    def cancel(self, job_id: str, *, policy: RetryPolicy) -> None:
        self.call(lambda c: c.projects().jobs().cancel(name=self._name(job_id), body={}),
                  what=f"cancelling job {job_id}", policy=policy)

    def log_id(self, job_id: str) -> str:
        return job_id

    def console_url(self, job_id: str, job: dict[str, Any] | None = None) -> str:
        return (self.local_console(job_id)
                or f"https://console.cloud.google.com/ai-platform/jobs/{job_id}?project={self.project_id}")


def _list(client: Any, *, params: dict[str, Any]) -> Any:
    return client.projects().jobs().list(**params)
