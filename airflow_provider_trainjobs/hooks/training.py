"""TrainingJobHook: create, get, list, cancel and wait for training jobs on either backend.

Every method returns the neutral job view (the ``ml`` v1 Job resource; see docs/architecture.md).
Calls go through discovery-built ``googleapiclient`` clients whose endpoint comes from the
connection, so the local service and Google take the same path. Transient failures are retried
(hooks/retry.py); create is idempotent (a 409 with the same spec attaches to the existing job).

Async variants run the same sync code in a worker thread (``asyncio.to_thread``). httplib2 is not
thread-safe, so clients are cached per thread: no http object is ever shared across threads, and
request construction and response translation stay one code path for both.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Generator
from functools import partial
from typing import Any, cast
from urllib.parse import quote

from airflow_provider_trainjobs.hooks.base import DEFAULT_CONN_ID, ON_CONFLICT, TrainJobsBaseHook
from airflow_provider_trainjobs.hooks.errors import JobSpecConflict, TrainingJobApiError
from airflow_provider_trainjobs.hooks.logs import LogCursor, format_entry, list_entries, log_filter
from airflow_provider_trainjobs.hooks.retry import RetryPolicy, as_api_error, call_with_retries
from airflow_provider_trainjobs.hooks.wait_loop import (
    Cancel,
    FetchLogs,
    Poll,
    Sleep,
    Step,
    WaitState,
    wait_steps,
)
from airflow_provider_trainjobs.spec.waiting import TERMINAL_STATES

MAX_SUFFIX = 100
HTTP_TIMEOUT = 60.0
# Log reads are a side show of the wait: a logging endpoint that stops answering must not hold a poll (and
# the deadline checks after it) for the full HTTP_TIMEOUT. The wait loop reads them without retries.
LOG_HTTP_TIMEOUT = 10.0


class TrainingJobHook(TrainJobsBaseHook):
    """Training jobs on the ``ml`` v1 protocol (local service, AI Platform) or Vertex AI (``backend="vertex"``).

    :param max_retries: retries of one call on 429/5xx/connection errors, and consecutive failed
        polls tolerated by :meth:`wait_for_job`.
    :param retry_delay: first backoff delay in seconds (doubles each retry, jittered).
    :param retry_max_delay: cap on one backoff delay.
    :param retry_total: cap on the seconds one call may spend retrying.
    """

    def __init__(
        self,
        gcp_conn_id: str = DEFAULT_CONN_ID,
        project_id: str | None = None,
        backend: str | None = None,
        region: str | None = None,
        *,
        max_retries: int = 5,
        retry_delay: float = 1.0,
        retry_max_delay: float = 30.0,
        retry_total: float = 300.0,
    ) -> None:
        super().__init__(gcp_conn_id, project_id=project_id, backend=backend, region=region)
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0; got {max_retries}")
        self.retry_policy = RetryPolicy(max_retries, retry_delay, retry_max_delay, retry_total)
        self._local = threading.local()
        self._vertex_names: dict[str, str] = {}

    def fresh_copy(self) -> TrainingJobHook:
        """A new hook for the same connection, overrides and retry policy, with HTTP clients of its own.

        The connection settings (and the Vertex job names) this hook has already read are reused, so the
        copy makes no connection lookup: ``on_kill`` runs in a signal handler, where reading the
        connection again (through the task supervisor) could deadlock on a request it interrupted.
        """
        policy = self.retry_policy
        copy = TrainingJobHook(self.gcp_conn_id, project_id=self._project_override, backend=self._backend_override,
                               region=self._region_override, max_retries=policy.max_retries,
                               retry_delay=policy.initial, retry_max_delay=policy.maximum, retry_total=policy.total)
        copy._settings = self._settings
        copy._vertex_names = dict(self._vertex_names)
        return copy

    # -- clients -----------------------------------------------------------------------------------

    def _client(self, api: str, region: str | None = None) -> Any:
        """This thread's discovery client for ``api`` ("training" or "logging"), built on first use.

        On Vertex without an ``api_endpoint`` each region has its own endpoint, hence a client per region;
        with one (the local service), all regions share it.
        """
        clients: dict[tuple[str, str | None], Any] = self._local.__dict__.setdefault("clients", {})
        regional = api == "training" and self._vertex and not self.settings.api_endpoint
        key = (api, (region or self._region()) if regional else None)
        if key not in clients:
            clients[key] = self._build_client(api, key[1])
        return clients[key]

    def _build_client(self, api: str, region: str | None = None) -> Any:
        import google_auth_httplib2
        import httplib2
        from googleapiclient.discovery import build

        settings = self.settings
        if api == "logging":
            name, version, endpoint = "logging", "v2", settings.logging_endpoint
        elif settings.backend == "vertex":
            name, version = "aiplatform", "v1"
            endpoint = settings.api_endpoint or f"https://{region or self._region()}-aiplatform.googleapis.com"
        else:
            name, version, endpoint = "ml", "v1", settings.api_endpoint
        timeout = LOG_HTTP_TIMEOUT if api == "logging" else HTTP_TIMEOUT
        http = google_auth_httplib2.AuthorizedHttp(self.get_credentials(), http=httplib2.Http(timeout=timeout))
        return build(
            name,
            version,
            http=http,
            client_options={"api_endpoint": endpoint} if endpoint else None,
            static_discovery=True,
            cache_discovery=False,
        )

    def _region(self) -> str:
        region = self.settings.region
        if not region:
            raise ValueError(
                f"the vertex backend needs a region: set the 'region' extra on connection "
                f"{self.gcp_conn_id!r} or pass region"
            )
        return region

    def _call(self, request: Callable[[Any], Any], *, what: str, api: str = "training",
              retries: bool = True, policy: RetryPolicy | None = None, region: str | None = None) -> Any:
        """Build the request on this thread's client (``region``'s, on Vertex) and execute it, retrying
        transient failures."""

        def once() -> Any:
            return request(self._client(api, region)).execute(num_retries=0)

        if retries:
            return call_with_retries(once, what=what, policy=policy or self.retry_policy)
        try:
            return once()
        except Exception as err:
            translated = as_api_error(err, what)
            if translated is err:
                raise
            raise translated from err

    @property
    def _vertex(self) -> bool:
        return self.settings.backend == "vertex"

    # -- jobs --------------------------------------------------------------------------------------

    def create_job(self, job: dict[str, Any], *, on_conflict: str = "attach",
                   executor_image_uri: str | None = None) -> dict[str, Any]:
        """Submit ``job``; if its jobId exists already, attach when the spec is the same.

        ``on_conflict`` decides what a different existing spec does: "attach" (the default) raises
        :class:`JobSpecConflict`; "suffix" creates ``<jobId>_<n>`` with the first free ``n`` (or
        attaches to one holding the same spec); "fail" raises on any existing job, even the same, except
        the one this very call created (a POST whose answer was lost, retried into a 409, same spec).
        ``executor_image_uri`` (Vertex only) picks the prebuilt training container instead of
        deriving it from runtimeVersion; None uses the connection's ``executor_image_uri`` extra.
        """
        if on_conflict not in ON_CONFLICT:
            raise ValueError(f"on_conflict must be one of {', '.join(ON_CONFLICT)}; got {on_conflict!r}")
        job_id = job.get("jobId")
        if not job_id:
            raise ValueError("job: field 'jobId' is required to create a job")
        if executor_image_uri is None:
            executor_image_uri = self.settings.executor_image_uri
        existing, retried = self._create_or_existing(job, executor_image_uri)
        if existing is None:
            return self.get_job(job_id)
        differences = _spec_differences(existing, job)
        if retried and not differences:
            # Our first POST created the job but its answer was lost; the retry met our own job.
            self.log.info("Job %s was created by this call (its first answer was lost): attached to it", job_id)
            return existing
        if on_conflict == "fail":
            raise TrainingJobApiError(f"job {job_id!r} already exists (on_conflict='fail')", status=409)
        if not differences:
            self.log.info("Job %s already exists with the same spec: attached to it", job_id)
            return existing
        if on_conflict == "attach":
            raise JobSpecConflict(job_id, differences)
        for n in range(1, MAX_SUFFIX + 1):
            candidate = {**job, "jobId": f"{job_id}_{n}"}
            existing, _ = self._create_or_existing(candidate, executor_image_uri)
            if existing is None:
                self.log.info("Job %s exists with a different spec (%s): created %s",
                              job_id, ", ".join(differences), candidate["jobId"])
                return self.get_job(candidate["jobId"])
            if not _spec_differences(existing, candidate):
                self.log.info("Job %s already exists with the same spec: attached to it", candidate["jobId"])
                return existing
        raise JobSpecConflict(job_id, [*differences, f"and {job_id}_1..{job_id}_{MAX_SUFFIX} all taken"])

    def _create_or_existing(self, job: dict[str, Any], executor_image_uri: str | None
                            ) -> tuple[dict[str, Any] | None, bool]:
        """POST the job: ``(None, _)`` when created; ``(existing view, retried)`` when the id is taken, where
        ``retried`` says the POST was sent more than once in this call (so the job may be this call's own)."""
        job_id = job["jobId"]
        attempts = 0

        def create(client: Any) -> Any:
            nonlocal attempts
            attempts += 1
            return client.projects().jobs().create(parent=f"projects/{self.project_id}", body=job)

        try:
            if self._vertex:
                from airflow_provider_trainjobs.spec.vertex import vertex_kind

                region = self._job_region(job)
                existing = self._vertex_find(job_id, region, (vertex_kind(job),))
                if existing is not None:
                    return existing, False
                self._vertex_create(job, executor_image_uri, region)
            else:
                self._call(create, what=f"creating job {job_id}")
            return None, False
        except TrainingJobApiError as err:
            if err.status != 409:
                raise
        return self.get_job(job_id), attempts > 1

    def get_job(self, job_id: str) -> dict[str, Any]:
        """The job's current neutral view."""
        return self._get_job(job_id, retries=True)

    def _get_job(self, job_id: str, *, retries: bool, policy: RetryPolicy | None = None) -> dict[str, Any]:
        if self._vertex:
            name = self._vertex_name(job_id)
            kind = _vertex_kind_of(name)
            resource = self._call(
                lambda c: getattr(c.projects().locations(), kind)().get(name=name),
                what=f"getting job {job_id}",
                retries=retries,
                policy=policy,
                region=_vertex_location(name),
            )
            return _from_vertex(resource, kind)
        result: dict[str, Any] = self._call(
            lambda c: c.projects().jobs().get(name=f"projects/{self.project_id}/jobs/{job_id}"),
            what=f"getting job {job_id}",
            retries=retries,
            policy=policy,
        )
        return result

    def list_jobs(self, filter: str | None = None, page_size: int = 100) -> list[dict[str, Any]]:  # noqa: A002
        """Every job matching ``filter``, all pages read.

        ``filter`` is in the ``ml`` v1 syntax on both backends (``jobId:census* AND state:FAILED``,
        ``labels.team=ml``); on Vertex it is translated (hooks/vertex_filter.py) or refused with a
        ``ValueError`` naming the term, before any call.
        """
        if not 1 <= page_size <= 100:
            raise ValueError(f"page_size must be between 1 and 100; got {page_size}")
        if self._vertex:
            from airflow_provider_trainjobs.hooks.vertex_filter import to_vertex_filter

            vertex_filter = to_vertex_filter(filter) if filter else None
            jobs: list[dict[str, Any]] = []
            for kind in ("customJobs", "hyperparameterTuningJobs"):
                jobs.extend(_from_vertex(r, kind) for r in self._vertex_list(kind, vertex_filter, page_size))
            return jobs
        jobs = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"parent": f"projects/{self.project_id}", "pageSize": page_size}
            if filter:
                params["filter"] = filter
            if token:
                params["pageToken"] = token
            response = self._call(partial(_list_ml, params=params), what="listing jobs")
            jobs.extend(response.get("jobs") or [])
            token = response.get("nextPageToken")
            if not token:
                return jobs

    def cancel_job(self, job_id: str, *, ignore_finished: bool = True) -> dict[str, Any]:
        """Ask the service to cancel the job; return its view afterwards.

        Cancelling a job that has already finished is not an error unless ``ignore_finished=False``.
        The cancel request retries for at most ``CANCEL_RETRY_TOTAL`` (20) seconds, so a kill finishes
        inside the triggerer's ``on_kill`` budget (``RetryPolicy.for_cancel``).
        """
        policy = self.retry_policy.for_cancel()
        try:
            if self._vertex:
                name = self._vertex_name(job_id)
                kind = _vertex_kind_of(name)
                self._call(lambda c: getattr(c.projects().locations(), kind)().cancel(name=name, body={}),
                           what=f"cancelling job {job_id}", policy=policy, region=_vertex_location(name))
            else:
                self._call(
                    lambda c: c.projects().jobs().cancel(name=f"projects/{self.project_id}/jobs/{job_id}",
                                                         body={}),
                    what=f"cancelling job {job_id}", policy=policy,
                )
        except TrainingJobApiError as err:
            if err.status not in (400, 409) or not ignore_finished:
                raise
            job = self._get_job(job_id, retries=True, policy=policy)
            if job.get("state") not in TERMINAL_STATES:
                raise
            self.log.info("Job %s had already finished (%s); nothing to cancel", job_id, job.get("state"))
            return job
        self.log.info("Requested cancellation of job %s", job_id)
        return self._get_job(job_id, retries=True, policy=policy)

    def console_url(self, job_id: str, job: dict[str, Any] | None = None) -> str:
        """The job's page: the local service's console page, or Google Cloud console's.

        Vertex jobs are addressed by their resource id, in the location their resource name says
        (Google Cloud console's training page; the same page form for custom and tuning jobs).
        """
        settings = self.settings
        project = self.project_id
        name = None
        if self._vertex:
            name = (job or {}).get("vertexName") or self._vertex_names.get(job_id) or self._vertex_name(job_id)
        page_id = name.rsplit("/", 1)[-1] if name else job_id
        if settings.is_local and settings.api_endpoint:
            return f"{settings.api_endpoint.rstrip('/')}/console/jobs/{quote(page_id, safe='')}?project={project}"
        if name:
            location = _vertex_location(name) or self._region()
            return (f"https://console.cloud.google.com/vertex-ai/locations/{location}/training/{page_id}/cpu"
                    f"?project={project}")
        return f"https://console.cloud.google.com/ai-platform/jobs/{job_id}?project={project}"

    # -- logs --------------------------------------------------------------------------------------

    def fetch_log_entries(self, job_id: str, cursor: LogCursor | None = None, *,
                          retries: bool = True) -> list[dict[str, Any]]:
        """Raw Cloud Logging entries of the job at or after ``cursor`` (the cursor is not moved)."""
        log_id = self._vertex_name(job_id).rsplit("/", 1)[-1] if self._vertex else job_id
        filter_ = log_filter(log_id, cursor or LogCursor())
        return self._call(
            lambda c: _Entries(c, self.project_id, filter_),
            what=f"reading the logs of job {job_id}",
            api="logging",
            retries=retries,
        )

    def fetch_logs(self, job_id: str, cursor: LogCursor) -> list[str]:
        """The job's log lines not seen yet, formatted ``[master-replica-0] message``; moves ``cursor``."""
        return [format_entry(e) for e in cursor.advance(self.fetch_log_entries(job_id, cursor))]

    # -- waiting -----------------------------------------------------------------------------------

    def wait_for_job(
        self,
        job_id: str,
        *,
        poll_interval: float = 10.0,
        grace: float = 60.0,
        cancel_on_deadline: bool = True,
        stream_logs: bool = True,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        wait_state: WaitState | None = None,
        log: Any = None,
    ) -> dict[str, Any]:
        """Block until the job is terminal; return it if SUCCEEDED, else raise ``TrainingJobFailed``.

        Deadline passed (``maxWaitTime``/``maxRunningTime`` plus ``grace``) → the job is cancelled
        (if ``cancel_on_deadline``) and ``TrainingJobDeadlineExceeded`` raised. ``wait_state`` lets a
        caller carry the log cursor in (e.g. from before a deferral) and read it afterwards; ``log``
        receives the state transitions and trainer lines (default: this hook's logger).
        """
        steps = self._steps(job_id, wait_state, stream_logs, poll_interval, grace, cancel_on_deadline,
                            on_progress, log)
        send: Any = None
        error: BaseException | None = None
        while True:
            done, step = _advance(steps, send, error)
            if done:
                return cast(dict[str, Any], step)
            send, error = None, None
            try:
                send = self._perform(job_id, step)
            except Exception as err:
                error = err

    async def async_wait_for_job(
        self,
        job_id: str,
        *,
        poll_interval: float = 10.0,
        grace: float = 60.0,
        cancel_on_deadline: bool = True,
        stream_logs: bool = True,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        wait_state: WaitState | None = None,
        log: Any = None,
    ) -> dict[str, Any]:
        """Async twin of :meth:`wait_for_job` (same loop; steps awaited, sleeps don't block the loop)."""
        await self.aget_settings()
        steps = self._steps(job_id, wait_state, stream_logs, poll_interval, grace, cancel_on_deadline,
                            on_progress, log)
        send: Any = None
        error: BaseException | None = None
        while True:
            done, step = _advance(steps, send, error)
            if done:
                return cast(dict[str, Any], step)
            send, error = None, None
            try:
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                else:
                    send = await asyncio.to_thread(self._perform, job_id, step)
            except Exception as err:
                error = err

    def _steps(self, job_id: str, wait_state: WaitState | None, stream_logs: bool, poll_interval: float,
               grace: float, cancel_on_deadline: bool, on_progress: Callable[[dict[str, Any]], None] | None,
               log: Any,
               ) -> Generator[Step, Any, dict[str, Any]]:
        """The wait loop for ``job_id`` (validated arguments); both drivers perform its steps."""
        state = wait_state or WaitState()
        state.stream_logs = state.stream_logs and stream_logs
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be > 0 seconds; got {poll_interval}")
        if grace < 0:
            raise ValueError(f"grace must be >= 0 seconds; got {grace}")
        return wait_steps(job_id, state, poll_interval=poll_interval, grace=grace,
                          cancel_on_deadline=cancel_on_deadline, retry=self.retry_policy, log=log or self.log,
                          on_progress=on_progress)

    def _perform(self, job_id: str, step: Step) -> Any:
        """Carry out one step of the wait loop (single attempts: the loop owns poll retries)."""
        if isinstance(step, Poll):
            return self._get_job(job_id, retries=False)
        if isinstance(step, FetchLogs):
            return self.fetch_log_entries(job_id, step.cursor, retries=False)
        if isinstance(step, Cancel):
            return self.cancel_job(job_id)
        time.sleep(step.seconds)
        return None

    # -- async variants ----------------------------------------------------------------------------

    async def async_get_job(self, job_id: str) -> dict[str, Any]:
        """Async :meth:`get_job`."""
        await self.aget_settings()
        return await asyncio.to_thread(self.get_job, job_id)

    async def async_cancel_job(self, job_id: str, *, ignore_finished: bool = True) -> dict[str, Any]:
        """Async :meth:`cancel_job`."""
        await self.aget_settings()
        return await asyncio.to_thread(self.cancel_job, job_id, ignore_finished=ignore_finished)

    async def async_fetch_logs(self, job_id: str, cursor: LogCursor) -> list[str]:
        """Async :meth:`fetch_logs`."""
        await self.aget_settings()
        return await asyncio.to_thread(self.fetch_logs, job_id, cursor)

    # -- vertex ------------------------------------------------------------------------------------

    def _vertex_parent(self, region: str | None = None) -> str:
        return f"projects/{self.project_id}/locations/{region or self._region()}"

    def _job_region(self, job: dict[str, Any]) -> str:
        """Where a Vertex job is created: its ``trainingInput.region``, else the hook's/connection's region.

        A region given to the hook explicitly must agree with the body (the connection's default need not).
        """
        body_region = (job.get("trainingInput") or {}).get("region")
        explicit = self._region_override
        if body_region and explicit and body_region != explicit:
            raise ValueError(
                f"trainingInput.region is {body_region!r} but this hook was given region={explicit!r}: the job "
                "would be created in one and looked for in the other; pass the same region, or none"
            )
        return str(body_region) if body_region else self._region()

    def _vertex_list(self, kind: str, filter_: str | None, page_size: int,
                     region: str | None = None) -> list[dict[str, Any]]:
        resources: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"parent": self._vertex_parent(region), "pageSize": page_size}
            if filter_:
                params["filter"] = filter_
            if token:
                params["pageToken"] = token
            response = self._call(partial(_list_vertex, kind=kind, params=params), what=f"listing {kind}",
                                  region=region)
            resources.extend(response.get(kind) or [])
            token = response.get("nextPageToken")
            if not token:
                return resources

    def _vertex_create(self, job: dict[str, Any], executor_image_uri: str | None, region: str) -> None:
        """Create the CustomJob/HyperparameterTuningJob in ``region``; a retried POST first looks for the job it
        may have created already (Vertex assigns ids, so a lost response would otherwise create a twin).
        ``to_vertex_job`` puts the jobId in displayName and the ``trainjobs_job_id`` label."""
        from airflow_provider_trainjobs.spec.vertex import to_vertex_job, vertex_kind

        job_id, kind = job["jobId"], vertex_kind(job)
        body = to_vertex_job(job, executor_image_uri=executor_image_uri)
        attempts = 0

        def once() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and self._vertex_find(job_id, region, (kind,)) is not None:
                return {"name": self._vertex_names[job_id]}
            collection = getattr(self._client("training", region).projects().locations(), kind)()
            resource: dict[str, Any] = collection.create(parent=self._vertex_parent(region), body=body).execute(
                num_retries=0)
            return resource

        resource = call_with_retries(once, what=f"creating job {job_id}", policy=self.retry_policy)
        self._vertex_names[job_id] = resource["name"]

    def _vertex_find(self, job_id: str, region: str | None = None,
                     kinds: tuple[str, ...] = ("customJobs", "hyperparameterTuningJobs")) -> dict[str, Any] | None:
        """The Vertex job created for ``job_id`` in ``region`` (default: the hook's), found server-side by its
        ``trainjobs_job_id`` label and displayName, among ``kinds``."""
        if "/" in job_id:
            return self._get_job(job_id, retries=True)
        from airflow_provider_trainjobs.spec.vertex import VERTEX_JOB_ID_LABEL, vertex_label_value

        wanted = f'labels.{VERTEX_JOB_ID_LABEL}="{vertex_label_value(job_id)}" AND display_name="{job_id}"'
        for kind in kinds:
            for resource in self._vertex_list(kind, wanted, 100, region):
                if resource.get("displayName") == job_id:
                    self._vertex_names[job_id] = resource["name"]
                    return _from_vertex(resource, kind)
        return None

    def _vertex_name(self, job_id: str) -> str:
        """The resource name of the Vertex job for ``job_id`` (a full name is accepted as is)."""
        if "/" in job_id:
            return job_id
        if job_id not in self._vertex_names and self._vertex_find(job_id) is None:
            raise TrainingJobApiError(f"getting job {job_id} failed: HTTP 404: no Vertex AI job with "
                                      f"displayName {job_id!r} in {self._vertex_parent()}", status=404)
        return self._vertex_names[job_id]


def _list_ml(client: Any, *, params: dict[str, Any]) -> Any:
    return client.projects().jobs().list(**params)


def _list_vertex(client: Any, *, kind: str, params: dict[str, Any]) -> Any:
    return getattr(client.projects().locations(), kind)().list(**params)


def _vertex_location(name: str) -> str | None:
    """``us-central1`` from ``projects/p/locations/us-central1/customJobs/123``."""
    parts = name.split("/")
    return parts[parts.index("locations") + 1] if "locations" in parts[:-1] else None


def _vertex_kind_of(name: str) -> str:
    return "hyperparameterTuningJobs" if "/hyperparameterTuningJobs/" in name else "customJobs"


def _from_vertex(resource: dict[str, Any], kind: str) -> dict[str, Any]:
    from airflow_provider_trainjobs.spec.vertex import from_vertex_job

    view: dict[str, Any] = from_vertex_job(resource, kind)
    return view


class _Entries:
    """Adapts paged ``entries.list`` to the ``.execute(num_retries=)`` shape ``_call`` expects."""

    def __init__(self, client: Any, project: str, filter_: str) -> None:
        self._client, self._project, self._filter = client, project, filter_

    def execute(self, num_retries: int = 0) -> list[dict[str, Any]]:
        return list_entries(self._client, self._project, self._filter)


def _spec_differences(existing: dict[str, Any], job: dict[str, Any]) -> list[str]:
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


def _advance(steps: Generator[Step, Any, dict[str, Any]], send: Any, error: BaseException | None) -> tuple[bool, Any]:
    """Resume the wait loop with the last step's answer (or its error): (True, final job) or (False, next step)."""
    try:
        return False, (steps.throw(error) if error is not None else steps.send(send))
    except StopIteration as stop:
        return True, stop.value
