"""Job bodies for the trainer, unique ids, and waiting for a job to reach a state."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from support.trainer import TRAINER_MODULE

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
VERTEX_RUNTIME = {"runtime_version": "2.8", "python_version": "3.7"}


def unique(prefix: str) -> str:
    return f"{prefix}_{time.time_ns()}"


def runtime_for(backend: str) -> dict[str, str]:
    """On Vertex the runtime and Python versions pick the prebuilt training container; ml v1 needs none."""
    return dict(VERTEX_RUNTIME) if backend == "vertex" else {}


def make_job(job_id: str, package_uri: str, args: Iterable[str] = (), **training: Any) -> dict[str, Any]:
    """An ml v1 job body running the trainer with ``args`` (``training`` adds trainingInput fields)."""
    return {
        "jobId": job_id,
        "trainingInput": {
            "scaleTier": "BASIC",
            "packageUris": [package_uri],
            "pythonModule": TRAINER_MODULE,
            "region": "us-central1",
            "args": list(args),
            **training,
        },
    }


def start_sleeping(ml: Any, project: str, job_id: str, package_uri: str, pid_file: Any, **training: Any) -> list[int]:
    """Create a job whose trainer sleeps until stopped, and return its replicas' pids once they wrote them."""
    from support.processes import wait_for_file

    ml.projects().jobs().create(parent=f"projects/{project}", body=make_job(
        job_id, package_uri, ["--mode", "sleep", "--pid-file", str(pid_file)], **training)).execute()
    return wait_for_file(pid_file)


def tiny_job(job_id: str, package_uri: str, *, lines: int = 3, sleep: float = 0.0, exit_code: int = 0,
             **training: Any) -> dict[str, Any]:
    """The trainer's tiny mode: ``lines`` numbered lines, a sleep, then exit ``exit_code`` (labelled job)."""
    job = make_job(job_id, package_uri,
                   ["--lines", str(lines), "--sleep", str(sleep), "--exit-code", str(exit_code)], **training)
    return {"jobId": job_id, "labels": {"owner": "hook-tests"}, "trainingInput": job["trainingInput"]}


def backend_job(backend: str, job_id: str, package_uri: str, **kwargs: Any) -> dict[str, Any]:
    """``tiny_job`` plus, on Vertex, the runtime version that picks a prebuilt training container."""
    job = tiny_job(job_id, package_uri, **kwargs)
    if backend == "vertex":
        job["trainingInput"].update(runtimeVersion=VERTEX_RUNTIME["runtime_version"],
                                    pythonVersion=VERTEX_RUNTIME["python_version"])
    return job


def poll_until(fetch: Callable[[], dict[str, Any]], predicate: Callable[[dict[str, Any]], bool], *,
               limit: float, interval: float, what: str) -> dict[str, Any]:
    """Call ``fetch`` until ``predicate`` holds for its result; a hang guard, not a timed assertion."""
    deadline = time.monotonic() + limit
    while True:
        job = fetch()
        if predicate(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}; last view: {job}")
        time.sleep(interval)


def wait_for(ml: Any, project: str, job_id: str, predicate: Callable[[dict[str, Any]], bool] | None = None,
             limit: float = 60.0) -> dict[str, Any]:
    """Poll the job through the ml v1 client until ``predicate`` (default: a terminal state)."""
    return poll_until(lambda: ml.projects().jobs().get(name=f"projects/{project}/jobs/{job_id}").execute(),
                      predicate or (lambda job: job["state"] in TERMINAL), limit=limit, interval=0.05,
                      what=f"job {job_id} never reached the expected condition")


def wait_for_state(hook: Any, job_id: str, states: set[str], timeout: float = 60.0) -> dict[str, Any]:
    """Poll the job through a ``TrainingJobHook`` until its state is one of ``states``.

    A job that does not exist yet (404: its create may still be on the way) counts as "not yet".
    """
    from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError

    def current() -> dict[str, Any]:
        try:
            return dict(hook.get_job(job_id))
        except TrainingJobApiError as err:
            if err.status == 404:
                return {}
            raise

    return poll_until(current, lambda job: job.get("state") in states, limit=timeout,
                      interval=0.2, what=f"job {job_id} never reached {states}")


def lose_first_create_response(hook: Any, suffixes: tuple[str, ...] = ("/jobs",)) -> list[str]:
    """Make the hook's first create POST reach the service but lose its answer (a transport wrapper: the
    service cannot drop a connection after doing the work). Returns the list the lost URI is recorded in."""
    http = hook._client("training")._http
    real_request = http.request
    lost: list[str] = []

    def request(uri: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        response = real_request(uri, method, *args, **kwargs)
        if method == "POST" and uri.split("?")[0].endswith(suffixes) and not lost:
            lost.append(uri)
            raise ConnectionResetError("connection reset after the server answered")
        return response

    http.request = request
    return lost
