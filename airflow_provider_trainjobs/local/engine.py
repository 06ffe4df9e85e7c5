"""The job lifecycle of the local service: queue, concurrency limit, deadlines, runs, cancel, restart.

QUEUED → PREPARING (fetch + install packages) → RUNNING → SUCCEEDED / FAILED, or CANCELLING → CANCELLED.
A job past ``scheduling.maxWaitTime`` or ``maxRunningTime`` (local/deadlines.py) is CANCELLED with an
errorMessage naming the limit. The scheduler sleeps until an event (create, cancel, a run ending, stop)
or the next queued job's wait deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_trainjobs.local.cluster import (
    KILL_GRACE,
    Cluster,
    RunContext,
    docker_available,
    plan_job,
)
from airflow_provider_trainjobs.local.deadlines import running_exceeded, wait_deadline, wait_exceeded
from airflow_provider_trainjobs.local.gcs_view import GcsView
from airflow_provider_trainjobs.local.job_pages import JobPage, list_where, read_page
from airflow_provider_trainjobs.local.job_queue import JobQueue
from airflow_provider_trainjobs.local.leftovers import (
    kill_leftovers,
    remove_work_dir,
    sweep_work_dirs,
    work_dir,
)
from airflow_provider_trainjobs.local.packages import PackageCache, PackageError
from airflow_provider_trainjobs.local.runs import (
    Cancelled,
    Deadline,
    Run,
    end_line,
    labels_etag,
    patched_labels,
    queued_record,
    stopped_outcome,
)
from airflow_provider_trainjobs.local.store import Store
from airflow_provider_trainjobs.local.timestamps import rfc3339
from airflow_provider_trainjobs.spec.waiting import TERMINAL_STATES

ACTIVE = ("PREPARING", "RUNNING", "CANCELLING")


class NotFound(LookupError):
    """404 NOT_FOUND."""


class AlreadyExists(ValueError):
    """409 ALREADY_EXISTS."""


class FailedPrecondition(ValueError):
    """400 FAILED_PRECONDITION."""


class Aborted(ValueError):
    """409 ABORTED (etag mismatch)."""


class Engine:
    """Owns every job of one service; thread-safe; all state goes through the Store first."""

    def __init__(
        self,
        store: Store,
        data_dir: Path,
        storage_endpoint: str,
        *,
        max_concurrent_jobs: int,
        max_replicas: int = 8,
        deadline_scale: float = 1.0,
        poll_interval: float = 0.02,
        keep_work_dirs: bool = False,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.storage_endpoint = storage_endpoint
        self.max_concurrent_jobs = max(0, max_concurrent_jobs)  # 0: jobs stay QUEUED (benchmarks, tests)
        self.keep_work_dirs = keep_work_dirs
        self.max_replicas = max(1, max_replicas)
        self.deadline_scale = deadline_scale
        self.poll_interval = poll_interval
        self.packages = PackageCache(data_dir / "cache" / "packages", storage_endpoint)
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._queue = JobQueue()
        self._runs: dict[tuple[str, str], Run] = {}
        self._stopping = False
        self._scheduler: threading.Thread | None = None

    # ----------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Recover jobs from the store (see docs/local-service.md "Restart") and start scheduling."""
        for seq, project, job in self.store.page("state = 'QUEUED'", [], after_seq=0, limit=-1):
            self._queue.add((project, job["jobId"]), seq, wait_deadline(job, self.deadline_scale))
        for project, job in self.store.jobs(states=ACTIVE):
            kill_leftovers(self.data_dir, project, job["jobId"], self.store.pids(project, job["jobId"]))
            self._settle_stopped(project, job)
        if not self.keep_work_dirs:
            sweep_work_dirs(self.data_dir, keep=self._queue)
        self._scheduler = threading.Thread(target=self._schedule_loop, name="scheduler", daemon=True)
        self._scheduler.start()

    def stop(self) -> None:
        """Stop scheduling, kill every trainer and settle the jobs it was preparing or running (as a restart
        would: FAILED, or CANCELLED when CANCELLING); QUEUED jobs stay queued for the next start."""
        with self._lock:
            self._stopping = True
            runs = list(self._runs.values())
            for run in runs:
                run.cancel.set()
            self._wake.notify_all()
        for run in runs:
            for cluster in list(run.clusters):
                cluster.kill(grace=KILL_GRACE)
        for run in runs:
            if run.thread is not None:
                run.thread.join(timeout=5)
        with self._lock:
            for run in runs:
                job = self.store.get_job(run.project, run.job_id)
                if job is not None and job.get("state") in ACTIVE:
                    self._settle_stopped(run.project, job)

    def _settle_stopped(self, project: str, job: dict[str, Any]) -> None:
        """Finish a job whose run the service stopped (or lost in a crash)."""
        self._finish(project, job["jobId"], *stopped_outcome(job))

    # ----------------------------------------------------------------------------- API
    def create(self, project: str, body: dict[str, Any]) -> dict[str, Any]:
        job = queued_record(body)
        with self._lock, self.store.transaction():
            seq = self.store.insert_job(project, job)
            if seq is None:
                raise AlreadyExists(f"Field: job.job_id Error: A job with this id already exists: {job['jobId']}")
            self.store.add_logs(project, job["jobId"], [
                ("INFO", "service", None, "Validating job requirements..."),
                ("INFO", "service", None, "Job creation request has been successfully validated."),
            ])
            self._queue.add((project, job["jobId"]), seq, wait_deadline(job, self.deadline_scale))
            self._wake.notify_all()
            return self._with_position(project, job)

    def _get(self, project: str, job_id: str) -> dict[str, Any]:
        job = self.store.get_job(project, job_id)
        if job is None:
            raise NotFound(f"Field: name Error: The specified job projects/{project}/jobs/{job_id} was not found.")
        return job

    def _with_position(self, project: str, job: dict[str, Any]) -> dict[str, Any]:
        """The job as answered: a QUEUED job's jobPosition is derived from the queue, never stored."""
        job.pop("jobPosition", None)
        if job.get("state") == "QUEUED":
            with self._lock:
                position = self._queue.position((project, job["jobId"]))
            if position is not None:
                job["jobPosition"] = str(position)
        return job

    def get(self, project: str, job_id: str) -> dict[str, Any]:
        return self._with_position(project, self._get(project, job_id))

    def list(self, project: str) -> list[dict[str, Any]]:
        """Every job of ``project`` in creation order (decodes them all: list pages use list_page)."""
        return [self._with_position(project, job) for _, job in self.store.jobs(project)]

    def list_page(self, project: str, predicate: Callable[[dict[str, Any]], bool], *, filter_text: str | None,
                  page_size: int, after_seq: int = 0, kind: str = "", location: str = "") -> JobPage:
        """One page of ``project``'s ml v1 jobs (or Vertex ``kind`` jobs in ``location``) matching ``predicate``
        (the compiled ``filter_text``): SQL narrows by what the filter implies on indexed columns, keyset
        paging from ``after_seq`` (the previous page's ``next_token``)."""
        where, args = list_where(project, filter_text, kind=kind, location=location)
        page = read_page(self.store, where, args, predicate, after_seq=after_seq, page_size=page_size)
        return JobPage([self._with_position(project, job) for job in page.jobs], page.next_token)

    def cancel(self, project: str, job_id: str) -> None:
        with self._lock:
            job = self._get(project, job_id)
            state = job["state"]
            if state in TERMINAL_STATES or state == "CANCELLING":
                raise FailedPrecondition(f"Cannot cancel job projects/{project}/jobs/{job_id}: it is {state}.")
            self.log(project, job_id, "INFO", "Job cancellation requested by the user.")
            if self._queue.remove((project, job_id)):
                self._finish(project, job_id, "CANCELLED", "Job cancelled by the user.")
                return
            run = self._runs.get((project, job_id))
            self._set(project, job_id, state="CANCELLING")
            if run is not None:
                run.cancel.set()

    def patch_labels(self, project: str, job_id: str, body: dict[str, Any], update_mask: str) -> dict[str, Any]:
        labels = patched_labels(body, update_mask)
        with self._lock:
            job = self._get(project, job_id)
            etag = body.get("etag")
            if etag and etag != job.get("etag"):
                raise Aborted(
                    f"etag: {etag!r} does not match the job's current etag {job.get('etag')!r}; read the job again"
                )
            return self._with_position(project, self._set(project, job_id, labels=labels, etag=labels_etag(labels)))

    # ----------------------------------------------------------------------------- state helpers
    def log(self, project: str, job_id: str, severity: str, message: str, trial_id: str | None = None,
            task: str = "service") -> None:
        self.store.add_logs(project, job_id, [(severity, task, trial_id, message)])

    def _set(self, project: str, job_id: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            job = self._get(project, job_id)
            state_changed = "state" in changes and changes["state"] != job.get("state")
            for key, value in changes.items():
                if value is None:
                    job.pop(key, None)
                else:
                    job[key] = value
            self.store.save_job(project, job, state_changed=state_changed, labels_changed="labels" in changes)
            return job

    def update_output(self, project: str, job_id: str, output: dict[str, Any]) -> None:
        """Replace trainingOutput (used by the tuning runner while trials progress)."""
        self._set(project, job_id, trainingOutput=output)

    def _finish(self, project: str, job_id: str, state: str, message: str | None) -> None:
        """End a job: its last log line and final truncation count are written before the terminal state,
        so a reader that sees the state finds every line."""
        self.log(project, job_id, *end_line(state, message))
        self.store.end_logs(project, job_id)
        changes: dict[str, Any] = {"state": state, "endTime": rfc3339(time.time()), "jobPosition": None}
        if message:
            changes["errorMessage"] = message
        self._set(project, job_id, **changes)

    # ----------------------------------------------------------------------------- scheduling
    def _schedule_loop(self) -> None:
        """Start queued jobs when there is room; sleeps until woken (create, cancel, a run ending, stop) or
        until the next queued job's maxWaitTime passes."""
        with self._lock:
            while not self._stopping:
                self._schedule_once()
                deadline = self._queue.next_deadline()
                self._wake.wait(timeout=None if deadline is None else max(0.0, deadline - time.time()))

    def _schedule_once(self) -> None:
        now = time.time()
        for key in self._queue.expired(now):
            job = self.store.get_job(*key)
            message = wait_exceeded(job, now, "QUEUED", self.deadline_scale) if job is not None else "gone"
            if message:
                self._queue.remove(key)
                if job is not None:
                    self._finish(*key, "CANCELLED", message)
            else:
                self._queue.add_deadline(key, now + 0.01)
        while len(self._queue) and len(self._runs) < self.max_concurrent_jobs:
            first = self._queue.pop_first()
            if first is None:
                break
            project, job_id = first
            run = Run(project, job_id)
            self._runs[(project, job_id)] = run
            self._set(project, job_id, state="PREPARING", jobPosition=None)
            self.log(project, job_id, "INFO", "Waiting for job to be provisioned.")
            run.thread = threading.Thread(target=self._run_job, args=(run,), name=f"job-{job_id}", daemon=True)
            run.thread.start()

    # ----------------------------------------------------------------------------- running
    def _run_job(self, run: Run) -> None:
        project, job_id = run.project, run.job_id
        state, message = "FAILED", "internal error"
        try:
            state, message = self._execute(run)
        except Cancelled:
            state, message = "CANCELLED", "Job cancelled by the user."
        except Deadline as err:
            state, message = "CANCELLED", str(err)
        except PackageError as err:
            state, message = "FAILED", str(err)
        except Exception as err:  # noqa: BLE001 - every failure must settle the job
            state, message = "FAILED", f"The local service failed to run the job: {type(err).__name__}: {err}"
        finally:
            for cluster in run.clusters:
                cluster.kill(grace=KILL_GRACE)
            if run.gcs is not None and not self._stopping:
                try:
                    run.gcs.push()
                except Exception as err:  # noqa: BLE001 - the job's outcome stands; say what was not uploaded
                    self.log(project, job_id, "WARNING", f"Uploading the /gcs view back to Cloud Storage failed: {err}")
            if not self.keep_work_dirs:  # every replica, trial and /gcs upload is done with it
                remove_work_dir(self.data_dir, project, job_id)
            with self._lock:
                self._runs.pop((project, job_id), None)
                if not self._stopping or state == "SUCCEEDED":  # else stop() settles it
                    self._finish(project, job_id, state, message or None)
                self._wake.notify_all()

    def check(self, run: Run, job: dict[str, Any]) -> None:
        """Raise Cancelled / Deadline when the run must stop now."""
        if run.cancel.is_set() or self._stopping:
            raise Cancelled()
        now = time.time()
        if job.get("startTime"):
            message = running_exceeded(job, now, self.deadline_scale)
        else:
            message = wait_exceeded(job, now, "PREPARING", self.deadline_scale)
        if message:
            raise Deadline(message)

    def _gcs_view(self, project: str, job_id: str, vertex: dict[str, Any]) -> GcsView | None:
        """The job's /gcs view: the buckets it names, mirrored under its work dir (None when it names none)."""
        buckets = list(vertex.get("buckets") or [])
        if not buckets:
            return None
        root = work_dir(self.data_dir, project, job_id) / "gcs"
        return GcsView(root, self.storage_endpoint, project, buckets,
                       lambda severity, line: self.log(project, job_id, severity, line))

    def sink_for(self, project: str, job_id: str) -> Callable[[str, str, str | None, str], None]:
        def sink(severity: str, task: str, trial: str | None, message: str) -> None:
            self.store.add_logs(project, job_id, [(severity, task, trial, message)])

        return sink

    def _execute(self, run: Run) -> tuple[str, str]:
        project, job_id = run.project, run.job_id
        job = self._get(project, job_id)
        training = job["trainingInput"]
        vertex = job.get("vertex")
        workdir = work_dir(self.data_dir, project, job_id)
        self.check(run, job)
        field, image = "masterConfig.imageUri", (training.get("masterConfig") or {}).get("imageUri")
        uris = list(training.get("packageUris") or [])
        if vertex:
            from airflow_provider_trainjobs.local.vertex_jobs import container_pool, package_uris

            pool = container_pool(vertex)
            field = f"workerPoolSpecs[{pool['index']}].containerSpec.imageUri" if pool else field
            image, uris = (pool or {}).get("imageUri"), package_uris(vertex)
        if image:
            ok, why = docker_available()
            if not ok:
                return "FAILED", (
                    f"{field}: the custom container {image} needs a container engine (Docker or podman) and"
                    f" none answers on this machine ({why}); the local service cannot run it."
                )
        environment = self.packages.prepare(  # the job's venv (local/packages.py), or the base without packages
            project, job, uris, workdir / "packages", lambda severity, line: self.log(project, job_id, severity, line),
            interrupt=lambda: self.check(run, job),
        )
        if vertex:
            run.gcs = self._gcs_view(project, job_id, vertex)
            if run.gcs is not None:
                run.gcs.pull()
        with self._lock:  # one step with cancel(): a CANCELLING job never goes back to RUNNING
            job = self._get(project, job_id)
            self.check(run, job)
            if job["state"] == "CANCELLING":
                raise Cancelled()
            job = self._set(project, job_id, state="RUNNING", startTime=rfc3339(time.time()))
        self.log(project, job_id, "INFO", "Job is running.")
        if training.get("hyperparameters"):
            from airflow_provider_trainjobs.local.trials import run_tuning

            return run_tuning(self, run, job, environment)
        plans, note = plan_job(job, self.max_replicas)
        if note:
            self.log(project, job_id, "WARNING", note)
        ctx = RunContext(project, job_id, training, workdir / "run", environment, self.storage_endpoint,
                         vertex=vertex, gcs_root=run.gcs.root if run.gcs is not None else None,
                         service_dir=self.data_dir)
        cluster = Cluster(ctx, plans, self.sink_for(project, job_id))
        run.clusters.append(cluster)
        cluster.start()
        self.store.set_pids(project, job_id, cluster.pids)
        while True:
            outcome = cluster.poll()
            if outcome is not None:
                ok, why = outcome
                return ("SUCCEEDED", "") if ok else ("FAILED", why)
            self.check(run, job)
            time.sleep(self.poll_interval)
