"""Start and stop ``trainjobs-local serve`` (or the storage emulator alone) as a child process.

One place for what the demo, the benchmarks and the test fixtures all need: free ports on
127.0.0.1, waiting until the service answers, the connection extras that point Airflow at it,
and a stop that never leaves a process behind.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LOCAL_PROJECT = "local-project"
LOCAL_REGION = "us-central1"
_DATA_DIRS: dict[str, Path] = {}  # API endpoint -> data dir, for the services this process started


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200; fail early, naming the exit code, if ``proc`` dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer {url} within {timeout:.0f}s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit within ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class ServiceProcess:
    """A running local service and how to reach it."""

    api_endpoint: str
    storage_endpoint: str
    data_dir: Path
    proc: subprocess.Popen[bytes]

    @property
    def project(self) -> str:
        return LOCAL_PROJECT

    def conn_extras(self, backend: str = "ai-platform") -> dict[str, str]:
        """The connection extras (hooks/base.py) that point every hook at this service."""
        return {
            "project": LOCAL_PROJECT,
            "backend": backend,
            "region": LOCAL_REGION,
            "api_endpoint": self.api_endpoint,
            "storage_endpoint": self.storage_endpoint,
            "logging_endpoint": self.api_endpoint,
        }

    def conn_json(self, backend: str = "ai-platform") -> str:
        """The same, as the JSON an ``AIRFLOW_CONN_<ID>`` environment variable takes."""
        return json.dumps({"conn_type": "trainjobs", "extra": self.conn_extras(backend)})

    @property
    def admin_token(self) -> str:
        """The token ``/admin`` routes need (the service writes it to its data dir at start)."""
        from airflow_provider_trainjobs.local.guard import read_admin_token

        return read_admin_token(self.data_dir)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the service settles its running jobs and exits), SIGKILL after ``timeout`` seconds."""
        stop_process(self.proc, timeout)


def start_service(
    data_dir: Path, *extra_args: str, log_path: Path | None = None, timeout: float = 60.0
) -> ServiceProcess:
    """Start ``python -m airflow_provider_trainjobs.local serve`` on free ports and wait for /healthz."""
    port, storage_port = free_port(), free_port()
    log_path = log_path or data_dir.parent / f"{data_dir.name}-service.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command: Sequence[str] = [
        sys.executable, "-m", "airflow_provider_trainjobs.local", "serve",
        "--data-dir", str(data_dir), "--port", str(port), "--storage-port", str(storage_port),
        *extra_args,
    ]
    with open(log_path, "ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, timeout)
    except Exception:
        stop_process(proc)
        raise
    endpoint = f"http://127.0.0.1:{port}"
    _DATA_DIRS[endpoint] = data_dir.expanduser().resolve()
    return ServiceProcess(endpoint, f"http://127.0.0.1:{storage_port}", data_dir, proc)


def admin_token_for(api_endpoint: str) -> str:
    """The admin token of a service this process started with ``start_service`` (KeyError otherwise)."""
    from airflow_provider_trainjobs.local.guard import read_admin_token

    return read_admin_token(_DATA_DIRS[api_endpoint.rstrip("/")])


@contextmanager
def serving(data_dir: Path, *extra_args: str, log_path: Path | None = None,
            timeout: float = 60.0) -> Iterator[ServiceProcess]:
    """``start_service`` for a ``with`` block: the service is always stopped when the block ends."""
    service = start_service(data_dir, *extra_args, log_path=log_path, timeout=timeout)
    try:
        yield service
    finally:
        service.stop()


def start_storage_emulator(data_dir: Path, timeout: float = 60.0) -> tuple[str, subprocess.Popen[bytes]]:
    """Start the Cloud Storage emulator alone on a free port; returns (endpoint, process)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_trainjobs.local.storage", "--port", str(port),
         "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{endpoint}/storage/v1/b?project={LOCAL_PROJECT}", proc, timeout)
    except Exception:
        stop_process(proc)
        raise
    return endpoint, proc
