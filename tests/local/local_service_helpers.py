"""Helpers for the local service tests: the real ml v1 / logging / storage clients, job bodies, waiting."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def ml_client(api_endpoint: str) -> Any:
    """The discovery-built ml v1 client pointed at a local service (anonymous credentials)."""
    from google.auth.credentials import AnonymousCredentials
    from googleapiclient.discovery import build

    return build("ml", "v1", credentials=AnonymousCredentials(), client_options={"api_endpoint": api_endpoint},
                 static_discovery=True, cache_discovery=False)


def logging_client(api_endpoint: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from googleapiclient.discovery import build

    return build("logging", "v2", credentials=AnonymousCredentials(), client_options={"api_endpoint": api_endpoint},
                 static_discovery=True, cache_discovery=False)


def storage_client(storage_endpoint: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="local-project", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": storage_endpoint})


def upload(storage_endpoint: str, path: Path, bucket: str = "trainjobs-tests") -> str:
    """Upload ``path`` to the service's storage emulator; returns its gs:// URI."""
    client = storage_client(storage_endpoint)
    if client.lookup_bucket(bucket) is None:
        client.create_bucket(bucket)
    name = f"packages/{path.name}"
    client.bucket(bucket).blob(name).upload_from_filename(str(path))
    return f"gs://{bucket}/{name}"


def make_job(job_id: str, package_uri: str, args: Iterable[str] = (), **training: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "jobId": job_id,
        "trainingInput": {
            "scaleTier": "BASIC",
            "packageUris": [package_uri],
            "pythonModule": "toolbox.task",
            "region": "us-central1",
            "args": list(args),
            **training,
        },
    }
    return body


def wait_for(ml: Any, project: str, job_id: str, predicate: Callable[[dict[str, Any]], bool] | None = None,
             limit: float = 60.0) -> dict[str, Any]:
    """Poll the job until ``predicate`` (default: terminal state); a hang guard, not a timed assertion."""
    predicate = predicate or (lambda job: job["state"] in TERMINAL)
    deadline = time.monotonic() + limit
    while True:
        job = ml.projects().jobs().get(name=f"projects/{project}/jobs/{job_id}").execute()
        if predicate(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never reached the expected condition; last view: {job}")
        time.sleep(0.05)


def unique(prefix: str) -> str:
    return f"{prefix}_{time.time_ns()}"


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone as far as the tree is concerned.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def wait_for_file(path: Path, limit: float = 30.0) -> list[int]:
    deadline = time.monotonic() + limit
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"trainer never wrote {path}")
        time.sleep(0.05)
    return list(json.loads(path.read_text()))


def processes_gone(pids: list[int], limit: float = 10.0) -> bool:
    deadline = time.monotonic() + limit
    while any(process_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
