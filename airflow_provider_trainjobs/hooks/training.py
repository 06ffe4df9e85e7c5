"""TrainingJobHook: create, get, list, cancel and wait for training jobs on either backend.

Every method returns the neutral job view (the ``ml`` v1 Job resource; see docs/architecture.md).
Calls go through discovery-built ``googleapiclient`` clients whose endpoint comes from the
connection, so the local service and Google take the same path. Transient failures are retried
(hooks/retry.py); create is idempotent (a 409 with the same spec attaches to the existing job).

Async variants run the same sync code in a worker thread (``asyncio.to_thread``). Discovery clients are
built once per process (hooks/clients.py); httplib2 is not thread-safe, so each request borrows an http
object no other thread holds from the hook's pool, and request construction and response translation stay
one code path for both.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Generator
from functools import partial
from typing import TYPE_CHECKING, Any, TypedDict, Unpack, cast

from airflow_provider_trainjobs.hooks.base import (
    DEFAULT_CONN_ID,
    ON_CONFLICT,
    ConnectionOverrides,
    TrainJobsBaseHook,
)
from airflow_provider_trainjobs.hooks.create import create_once, spec_differences
from airflow_provider_trainjobs.hooks.errors import JobSpecConflict, TrainingJobApiError, unreachable
from airflow_provider_trainjobs.hooks.executor import in_executor
from airflow_provider_trainjobs.hooks.logs import LogCursor, format_entry, list_entries
from airflow_provider_trainjobs.hooks.retry import (
    RetryPolicy,
    call_translated,
    call_with_retries,
    is_network_error,
)
from airflow_provider_trainjobs.hooks.waiting import (
    DEFAULT_HEARTBEAT,
    Cancel,
    FetchLogs,
    Poll,
    Sleep,
    Step,
    WaitState,
    adrive,
    check_wait_args,
    drive,
    wait_steps,
)
from airflow_provider_trainjobs.spec.waiting import TERMINAL_STATES

if TYPE_CHECKING:
    from airflow_provider_trainjobs.hooks.backend import JobsBackend
    from airflow_provider_trainjobs.hooks.clients import HttpPool

MAX_SUFFIX = 100
HTTP_TIMEOUT = 60.0
# Log reads are a side show of the wait: a logging endpoint that stops answering must not hold a poll (and
# the deadline checks after it) for the full HTTP_TIMEOUT. The wait loop reads them without retries.
LOG_HTTP_TIMEOUT = 10.0


class WaitOptions(TypedDict, total=False):
    """The keyword arguments of :meth:`TrainingJobHook.wait_for_job` and its async twin, declared once."""

    poll_interval: float
    grace: float
    cancel_on_deadline: bool
    stream_logs: bool
    on_progress: Callable[[dict[str, Any]], None] | None
    wait_state: WaitState | None
    log: Any
    heartbeat_interval: float


class TrainingJobHook(TrainJobsBaseHook):
    """Training jobs on the ``ml`` v1 protocol (local service, AI Platform) or Vertex AI (``backend="vertex"``).

    The protocol itself is a backend (hooks/ml_v1.py, hooks/vertex.py); this class adds the retries, the
    conflict policy of a create and the wait drivers, the same for both.

    :param max_retries: retries of one call on 429/5xx/connection errors, and consecutive failed
        polls tolerated by :meth:`wait_for_job`.
    :param retry_delay: first backoff delay in seconds (doubles each retry, jittered).
    :param retry_max_delay: cap on one backoff delay.
    :param retry_total: cap on the seconds one call may spend retrying.
    :param overrides: ``project_id``, ``backend``, ``region``, ``impersonation_chain`` (ConnectionOverrides).
    """

    def __init__(
        self,
        gcp_conn_id: str = DEFAULT_CONN_ID,
        *,
        max_retries: int = 5,
        retry_delay: float = 1.0,
        retry_max_delay: float = 30.0,
        retry_total: float = 300.0,
        **overrides: Unpack[ConnectionOverrides],
    ) -> None:
        super().__init__(gcp_conn_id, **overrides)
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0; got {max_retries}")
        self.retry_policy = RetryPolicy(max_retries, retry_delay, retry_max_delay, retry_total)
        self._pools: dict[str, HttpPool] = {}
        self._pools_lock = threading.Lock()
        self._names: dict[str, str] = {}  # jobId -> resource name, where the backend assigns ids (Vertex)
        self._backend: JobsBackend | None = None

    def fresh_copy(self) -> TrainingJobHook:
        """A new hook for the same connection, overrides and retry policy, with HTTP clients of its own.

        The connection settings (and the Vertex job names) this hook has already read are reused, so the
        copy makes no connection lookup: ``on_kill`` runs in a signal handler, where reading the
        connection again (through the task supervisor) could deadlock on a request it interrupted.
        """
        policy = self.retry_policy
        copy = TrainingJobHook(self.gcp_conn_id, project_id=self._project_override, backend=self._backend_override,
                               region=self._region_override, max_retries=policy.max_retries,
                               retry_delay=policy.initial, retry_max_delay=policy.maximum, retry_total=policy.total,
                               impersonation_chain=self._impersonation_override)
        copy._settings = self._settings
        copy._names = dict(self._names)
        return copy

    @property
    def jobs(self) -> JobsBackend:
        """The backend this hook's connection and overrides name (built on first use)."""
        if self._backend is None:
            from airflow_provider_trainjobs.hooks.backend import backend_class

            self._backend = backend_class(self.settings.backend)(
                self.settings, self.project_id, conn_id=self.gcp_conn_id, call=self._call,
                explicit_region=self._region_override, names=self._names)
        return self._backend

    # -- clients -----------------------------------------------------------------------------------

    def _client(self, api: str, region: str | None = None) -> Any:
        """The discovery client for ``api`` ("training" or "logging") bound to this hook's HTTP pool.

        The client itself is the process's (hooks/clients.py: one per api and endpoint, whatever the number
        of hooks and threads); on Vertex without an ``api_endpoint`` each region has its own endpoint.
        """
        from airflow_provider_trainjobs.hooks.clients import Bound, service

        if api == "logging":
            name, version, endpoint = "logging", "v2", self.settings.logging_endpoint
        else:
            (name, version), endpoint = self.jobs.api, self.jobs.endpoint(region)
        return Bound(service(name, version, endpoint), self._http(api))

    def _http(self, api: str) -> HttpPool:
        """This hook's pool of HTTP objects for ``api`` (its credentials; the logging reads' shorter timeout)."""
        with self._pools_lock:
            pool = self._pools.get(api)
            if pool is None:
                from airflow_provider_trainjobs.hooks.clients import HttpPool

                timeout = LOG_HTTP_TIMEOUT if api == "logging" else HTTP_TIMEOUT
                pool = self._pools[api] = HttpPool(self.get_credentials(), timeout)
            return pool

    def _call(self, request: Callable[[Any], Any], *, what: str, api: str = "training",
              retries: bool = True, policy: RetryPolicy | None = None, region: str | None = None) -> Any:
        """Build the request on the client for ``api`` (``region``'s, on Vertex) and execute it, retrying
        transient failures."""

        def once() -> Any:
            client = self._client(api, region)
            try:
                return request(client).execute(num_retries=0)
            except Exception as err:
                if is_network_error(err):
                    raise unreachable(what, client.base_url, err) from err
                raise

        if retries:
            return call_with_retries(once, what=what, policy=policy or self.retry_policy)
        return call_translated(once, what)

    # -- jobs --------------------------------------------------------------------------------------

    def create_job(self, job: dict[str, Any], *, on_conflict: str = "attach",
                   executor_image_uri: str | None = None) -> dict[str, Any]:
        """Submit ``job``; if its jobId exists already, attach when the spec is the same.

        ``on_conflict`` decides what a different existing spec does: "attach" (the default) raises
        :class:`JobSpecConflict`; "suffix" creates ``<jobId>_<n>`` with the first free ``n`` (or
        attaches to one holding the same spec); "fail" raises on any existing job, even the same, except
        the one this very call created (a create whose answer was lost, found again by the look-up that
        precedes a second create, same spec).
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
        existing, existed, retried = self._create_or_existing(job, executor_image_uri)
        if not existed:
            return existing  # the create's own answer: no GET after it
        differences = spec_differences(existing, job)
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
            existing, existed, _ = self._create_or_existing(candidate, executor_image_uri)
            if not existed:
                self.log.info("Job %s exists with a different spec (%s): created %s",
                              job_id, ", ".join(differences), candidate["jobId"])
                return existing
            if not spec_differences(existing, candidate):
                self.log.info("Job %s already exists with the same spec: attached to it", candidate["jobId"])
                return existing
        raise JobSpecConflict(job_id, [*differences, f"and {job_id}_1..{job_id}_{MAX_SUFFIX} all taken"])

    def _create_or_existing(self, job: dict[str, Any], executor_image_uri: str | None
                            ) -> tuple[dict[str, Any], bool, bool]:
        """``(view, existed, retried)`` of creating ``job`` once (hooks/create.py)."""
        return create_once(self.jobs, job, executor_image_uri, policy=self.retry_policy, get=self.get_job)

    def get_job(self, job_id: str) -> dict[str, Any]:
        """The job's current neutral view."""
        return self._get_job(job_id, retries=True)

    def _get_job(self, job_id: str, *, retries: bool, policy: RetryPolicy | None = None) -> dict[str, Any]:
        return self.jobs.get(job_id, retries=retries, policy=policy)

    def list_jobs(self, filter: str | None = None, page_size: int = 100) -> list[dict[str, Any]]:  # noqa: A002
        """Every job matching ``filter``, all pages read.

        ``filter`` is in the ``ml`` v1 syntax on both backends (``jobId:census* AND state:FAILED``,
        ``labels.team=ml``); on Vertex it is translated (hooks/vertex_filter.py) or refused with a
        ``ValueError`` naming the term, before any call.
        """
        if not 1 <= page_size <= 100:
            raise ValueError(f"page_size must be between 1 and 100; got {page_size}")
        return self.jobs.list_jobs(filter, page_size)

    def cancel_job(self, job_id: str, *, ignore_finished: bool = True) -> dict[str, Any]:
        """Ask the service to cancel the job; return its view afterwards.

        Cancelling a job that has already finished is not an error unless ``ignore_finished=False``.
        The cancel request retries for at most ``CANCEL_RETRY_TOTAL`` (20) seconds, so a kill finishes
        inside the triggerer's ``on_kill`` budget (``RetryPolicy.for_cancel``).
        """
        policy = self.retry_policy.for_cancel()
        try:
            self.jobs.cancel(job_id, policy=policy)
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
        """The job's page: the local service's console page, or Google Cloud console's (on Vertex, in the
        location the job's resource name says; ``job``'s ``vertexName`` spares a lookup)."""
        return self.jobs.console_url(job_id, job)

    # -- logs --------------------------------------------------------------------------------------

    def fetch_log_entries(self, job_id: str, cursor: LogCursor | None = None, *,
                          retries: bool = True) -> list[dict[str, Any]]:
        """Raw Cloud Logging entries of the job at or after ``cursor`` (the cursor is not moved)."""
        filter_ = self.jobs.log_filter(job_id, cursor or LogCursor())
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

    def wait_for_job(self, job_id: str, **options: Unpack[WaitOptions]) -> dict[str, Any]:
        """Block until the job is terminal; return it if SUCCEEDED, else raise ``TrainingJobFailed``.

        ``options`` (:class:`WaitOptions`; defaults in :meth:`_steps`): ``poll_interval`` (10 s), ``grace``
        (60 s), ``cancel_on_deadline`` (True), ``stream_logs`` (True), ``on_progress``, ``wait_state``, ``log``,
        ``heartbeat_interval`` (DEFAULT_HEARTBEAT). Deadline passed (``maxWaitTime``/``maxRunningTime`` plus
        ``grace``) → the job is cancelled (if ``cancel_on_deadline``) and ``TrainingJobDeadlineExceeded`` raised.
        ``wait_state`` lets a caller carry the log cursor in (e.g. from before a deferral) and read it afterwards;
        ``log`` receives the state transitions and trainer lines (default: this hook's logger); a quiet job gets
        a heartbeat line every ``heartbeat_interval`` seconds (0: none).
        """
        return drive(self._steps(job_id, **options), partial(self._perform, job_id))

    async def async_wait_for_job(self, job_id: str, **options: Unpack[WaitOptions]) -> dict[str, Any]:
        """Async twin of :meth:`wait_for_job` (same loop; steps run on the poller's small executor, never the
        event loop's default pool; sleeps don't block the loop). Triggers share one poller instead
        (hooks/poller.py)."""
        await self.aget_settings()
        steps = self._steps(job_id, **options)

        async def perform(step: Step) -> Any:
            if isinstance(step, Sleep):
                return await asyncio.sleep(step.seconds)
            return await in_executor(self._perform, job_id, step)

        return await adrive(steps, perform)

    def _steps(self, job_id: str, *, poll_interval: float = 10.0, grace: float = 60.0,
               cancel_on_deadline: bool = True, stream_logs: bool = True,
               on_progress: Callable[[dict[str, Any]], None] | None = None, wait_state: WaitState | None = None,
               log: Any = None, heartbeat_interval: float = DEFAULT_HEARTBEAT,
               ) -> Generator[Step, Any, dict[str, Any]]:
        """The wait loop for ``job_id`` (validated arguments); both drivers perform its steps."""
        state = wait_state or WaitState()
        state.stream_logs = state.stream_logs and stream_logs
        check_wait_args(poll_interval, grace, heartbeat_interval)
        return wait_steps(job_id, state, poll_interval=poll_interval, grace=grace,
                          cancel_on_deadline=cancel_on_deadline, retry=self.retry_policy, log=log or self.log,
                          on_progress=on_progress, heartbeat=heartbeat_interval)

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
        return cast(dict[str, Any], await in_executor(self.get_job, job_id))

    async def async_cancel_job(self, job_id: str, *, ignore_finished: bool = True) -> dict[str, Any]:
        """Async :meth:`cancel_job`."""
        await self.aget_settings()
        return cast(dict[str, Any], await in_executor(partial(self.cancel_job, job_id,
                                                              ignore_finished=ignore_finished)))

    async def async_fetch_logs(self, job_id: str, cursor: LogCursor) -> list[str]:
        """Async :meth:`fetch_logs`."""
        await self.aget_settings()
        return cast(list[str], await in_executor(self.fetch_logs, job_id, cursor))


class _Entries:
    """Adapts paged ``entries.list`` to the ``.execute(num_retries=)`` shape ``_call`` expects."""

    def __init__(self, client: Any, project: str, filter_: str) -> None:
        self._client, self._project, self._filter = client, project, filter_

    def execute(self, num_retries: int = 0) -> list[dict[str, Any]]:
        return list_entries(self._client, self._project, self._filter)

