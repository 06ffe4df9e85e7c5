"""The job lifecycle of the local service: queue, concurrency limit, deadlines, runs, cancel, restart.

QUEUED → PREPARING (fetch + install packages) → RUNNING → SUCCEEDED / FAILED, or CANCELLING → CANCELLED.
``scheduling.maxWaitTime`` (from createTime, while QUEUED/PREPARING) and ``scheduling.maxRunningTime``
(from startTime) are enforced here: a job past either is CANCELLED with an errorMessage naming the limit.
``deadline_scale`` multiplies both limits as enforced (a test/demo option; 1.0 = real seconds).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_trainjobs.local.cluster import (
    KILL_GRACE,
    SERVICE_MARKER,
    Cluster,
    RunContext,
    docker_available,
    plan_job,
)
from airflow_provider_trainjobs.local.gcs_view import GcsView
from airflow_provider_trainjobs.local.packages import PackageCache, PackageError
from airflow_provider_trainjobs.local.store import Store, parse_rfc3339, rfc3339
from airflow_provider_trainjobs.processes import signal_all, with_environ

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
ACTIVE = ("PREPARING", "RUNNING", "CANCELLING")
DEFAULT_MAX_RUNNING = 604800.0


class NotFound(LookupError):
    """404 NOT_FOUND."""


class AlreadyExists(ValueError):
    """409 ALREADY_EXISTS."""


class FailedPrecondition(ValueError):
    """400 FAILED_PRECONDITION."""


class Aborted(ValueError):
    """409 ABORTED (etag mismatch)."""


def parse_duration(value: Any, default: float | None = None) -> float | None:
    """A Job duration (``"3600s"``) in seconds; None/empty gives ``default``."""
    from airflow_provider_trainjobs.spec import parse_duration as parse

    return default if value in (None, "") else parse(value)


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
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.storage_endpoint = storage_endpoint
        self.max_concurrent_jobs = max(1, max_concurrent_jobs)
        self.max_replicas = max(1, max_replicas)
        self.deadline_scale = deadline_scale
        self.poll_interval = poll_interval
        self.packages = PackageCache(data_dir / "cache" / "packages", storage_endpoint)
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._queue: list[tuple[str, str]] = []
        self._runs: dict[tuple[str, str], Run] = {}
        self._stopping = False
        self._scheduler: threading.Thread | None = None

    # ----------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Recover jobs from the store (see docs/local-service.md "Restart") and start scheduling."""
        for project, job in self.store.jobs():
            state = job.get("state")
            if state == "QUEUED":
                self._queue.append((project, job["jobId"]))
            elif state in ACTIVE:
                self._kill_leftovers(project, job["jobId"])
                self._settle_stopped(project, job)
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
        state = job["state"]
        if state == "CANCELLING":
            self._finish(project, job["jobId"], "CANCELLED", job.get("errorMessage") or "Job cancelled by the user.")
            return
        self._finish(project, job["jobId"], "FAILED",
                     f"The local service stopped while this job was {state}; running jobs are not resumed after"
                     " a restart. Submit it again under a new jobId.")

    def _kill_leftovers(self, project: str, job_id: str) -> None:
        """Kill the trainers a crashed service left behind: the recorded process groups (only if they are
        still this job's) and every process, orphaned setsid() children included, whose environment names
        this job and this service's data dir (another service's trainers are never touched)."""
        import signal

        job_entry = f"CLOUD_ML_JOB_ID={job_id}"
        for pid in self.store.pids(project, job_id):
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue
            if job_entry.encode() in environ.split(b"\0"):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass
        signal_all(with_environ(job_entry, f"CLOUD_ML_PROJECT_ID={project}", f"{SERVICE_MARKER}={self.data_dir}"),
                   signal.SIGKILL)

    # ----------------------------------------------------------------------------- API
    def create(self, project: str, body: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        job = copy.deepcopy(body)
        for key in ("state", "createTime", "startTime", "endTime", "errorMessage", "trainingOutput", "etag"):
            job.pop(key, None)
        job["createTime"] = rfc3339(now)
        job["state"] = "QUEUED"
        job["etag"] = labels_etag(job.get("labels"))
        if (job.get("trainingInput") or {}).get("hyperparameters"):
            hp = job["trainingInput"]["hyperparameters"]
            job["trainingOutput"] = {
                "isHyperparameterTuningJob": True,
                "completedTrialCount": "0",
                "hyperparameterMetricTag": hp.get("hyperparameterMetricTag") or "training/hptuning/metric",
                "trials": [],
            }
        with self._lock:
            if not self.store.insert_job(project, job):
                raise AlreadyExists(f"Field: job.job_id Error: A job with this id already exists: {job['jobId']}")
            self._queue.append((project, job["jobId"]))
            self.log(project, job["jobId"], "INFO", "Validating job requirements...")
            self.log(project, job["jobId"], "INFO", "Job creation request has been successfully validated.")
            self._update_positions()
            self._wake.notify_all()
            return self._get(project, job["jobId"])

    def _get(self, project: str, job_id: str) -> dict[str, Any]:
        job = self.store.get_job(project, job_id)
        if job is None:
            raise NotFound(f"Field: name Error: The specified job projects/{project}/jobs/{job_id} was not found.")
        return job

    def get(self, project: str, job_id: str) -> dict[str, Any]:
        return self._get(project, job_id)

    def list(self, project: str) -> list[dict[str, Any]]:
        return [job for _, job in self.store.jobs(project)]

    def cancel(self, project: str, job_id: str) -> None:
        with self._lock:
            job = self._get(project, job_id)
            state = job["state"]
            if state in TERMINAL or state == "CANCELLING":
                raise FailedPrecondition(f"Cannot cancel job projects/{project}/jobs/{job_id}: it is {state}.")
            self.log(project, job_id, "INFO", "Job cancellation requested by the user.")
            if (project, job_id) in self._queue:
                self._queue.remove((project, job_id))
                self._finish(project, job_id, "CANCELLED", "Job cancelled by the user.")
                self._update_positions()
                return
            run = self._runs.get((project, job_id))
            self._set(project, job_id, state="CANCELLING")
            if run is not None:
                run.cancel.set()

    def patch_labels(self, project: str, job_id: str, body: dict[str, Any], update_mask: str) -> dict[str, Any]:
        fields = [f.strip() for f in (update_mask or "").split(",") if f.strip()]
        if fields != ["labels"]:
            raise ValueError(f"updateMask: only 'labels' can be updated; got {update_mask!r}")
        labels = body.get("labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise ValueError("labels: must be a map of strings to strings")
        with self._lock:
            job = self._get(project, job_id)
            etag = body.get("etag")
            if etag and etag != job.get("etag"):
                raise Aborted(
                    f"etag: {etag!r} does not match the job's current etag {job.get('etag')!r}; read the job again"
                )
            return self._set(project, job_id, labels=labels, etag=labels_etag(labels))

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
            self.store.save_job(project, job, state_changed=state_changed)
            return job

    def update_output(self, project: str, job_id: str, output: dict[str, Any]) -> None:
        """Replace trainingOutput (used by the tuning runner while trials progress)."""
        self._set(project, job_id, trainingOutput=output)

    def _finish(self, project: str, job_id: str, state: str, message: str | None) -> None:
        changes: dict[str, Any] = {"state": state, "endTime": rfc3339(time.time()), "jobPosition": None}
        if message:
            changes["errorMessage"] = message
        self._set(project, job_id, **changes)
        if state == "SUCCEEDED":
            self.log(project, job_id, "INFO", "Job completed successfully.")
        elif state == "FAILED":
            self.log(project, job_id, "ERROR", f"Job failed: {message}")
        else:
            self.log(project, job_id, "INFO", f"Job cancelled: {message}")

    def _update_positions(self) -> None:
        for position, (project, job_id) in enumerate(self._queue):
            job = self.store.get_job(project, job_id)
            if job is not None and job.get("jobPosition") != str(position):
                job["jobPosition"] = str(position)
                self.store.save_job(project, job)

    def _wait_limit(self, job: dict[str, Any]) -> float | None:
        limit = parse_duration(((job.get("trainingInput") or {}).get("scheduling") or {}).get("maxWaitTime"))
        return None if limit is None else limit

    def running_limit(self, job: dict[str, Any]) -> float:
        value = parse_duration(
            ((job.get("trainingInput") or {}).get("scheduling") or {}).get("maxRunningTime"), DEFAULT_MAX_RUNNING
        )
        return float(value if value is not None else DEFAULT_MAX_RUNNING)

    # ----------------------------------------------------------------------------- scheduling
    def _schedule_loop(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                self._schedule_once()
                self._wake.wait(timeout=0.1)

    def _schedule_once(self) -> None:
        now = time.time()
        changed = False
        for project, job_id in list(self._queue):
            job = self.store.get_job(project, job_id)
            if job is None:
                self._queue.remove((project, job_id))
                continue
            message = self._wait_exceeded(job, now, "QUEUED")
            if message:
                self._queue.remove((project, job_id))
                self._finish(project, job_id, "CANCELLED", message)
                changed = True
        while self._queue and len(self._runs) < self.max_concurrent_jobs:
            project, job_id = self._queue.pop(0)
            run = Run(project, job_id)
            self._runs[(project, job_id)] = run
            self._set(project, job_id, state="PREPARING", jobPosition=None)
            self.log(project, job_id, "INFO", "Waiting for job to be provisioned.")
            run.thread = threading.Thread(target=self._run_job, args=(run,), name=f"job-{job_id}", daemon=True)
            run.thread.start()
            changed = True
        if changed:
            self._update_positions()

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
            limit = self.running_limit(job)
            if now - parse_rfc3339(job["startTime"]) > limit * self.deadline_scale:
                shown = ((job.get("trainingInput") or {}).get("scheduling") or {}).get("maxRunningTime") or "604800s"
                field = "scheduling.timeout" if job.get("vertex") else "scheduling.maxRunningTime"
                raise Deadline(f"Job exceeded {field} ({shown}) while RUNNING; it was cancelled by the service.")
        else:
            message = self._wait_exceeded(job, now, "PREPARING")
            if message:
                raise Deadline(message)

    def _wait_exceeded(self, job: dict[str, Any], now: float, state: str) -> str | None:
        """The errorMessage of a job waiting (QUEUED/PREPARING) past scheduling.maxWaitTime, else None."""
        limit = self._wait_limit(job)
        if limit is None or now - parse_rfc3339(job["createTime"]) <= limit * self.deadline_scale:
            return None
        shown = job["trainingInput"]["scheduling"]["maxWaitTime"]
        return f"Job exceeded scheduling.maxWaitTime ({shown}) while {state}; it was cancelled by the service."

    def _gcs_view(self, project: str, job_id: str, vertex: dict[str, Any]) -> GcsView | None:
        """The job's /gcs view: the buckets it names, mirrored under its work dir (None when it names none)."""
        buckets = list(vertex.get("buckets") or [])
        if not buckets:
            return None
        root = self.data_dir / "work" / project / job_id / "gcs"
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
        workdir = self.data_dir / "work" / project / job_id
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
