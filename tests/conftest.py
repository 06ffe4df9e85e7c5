"""Shared fixtures: a temporary Airflow home, the real Cloud Storage emulator and the real local service.

Servers bind to 127.0.0.1 and are stopped by the fixture that started them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="trainjobs-airflow-home-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_PROJECT = "local-project"


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer {url} within {timeout}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def storage_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A standalone gcp-storage-emulator process; yields its endpoint URL."""
    port = free_port()
    data_dir = tmp_path_factory.mktemp("gcs")
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_trainjobs.local.storage", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/storage/v1/b?project=x", proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


@pytest.fixture
def storage_conn(storage_emulator: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Points the default connection at the storage emulator; returns its extras."""
    extras = {"project": LOCAL_PROJECT, "storage_endpoint": storage_emulator}
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps({"conn_type": "trainjobs", "extra": extras}))
    return extras


@dataclass
class LocalService:
    """A running ``trainjobs-local serve`` process and how to reach it."""

    api_endpoint: str
    storage_endpoint: str
    data_dir: Path
    proc: subprocess.Popen[bytes]

    @property
    def project(self) -> str:
        return LOCAL_PROJECT

    def conn_extras(self, backend: str = "ai-platform") -> dict[str, str]:
        return {
            "project": LOCAL_PROJECT,
            "backend": backend,
            "region": "us-central1",
            "api_endpoint": self.api_endpoint,
            "storage_endpoint": self.storage_endpoint,
            "logging_endpoint": self.api_endpoint,
        }

    def conn_json(self, backend: str = "ai-platform") -> str:
        return json.dumps({"conn_type": "trainjobs", "extra": self.conn_extras(backend)})


def start_local_service(data_dir: Path, *extra_args: str) -> LocalService:
    """Start ``python -m airflow_provider_trainjobs.local serve`` on free ports and wait for /healthz."""
    port, storage_port = free_port(), free_port()
    log = open(data_dir.parent / f"{data_dir.name}-service.log", "ab")  # noqa: SIM115 - kept for the process
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "airflow_provider_trainjobs.local", "serve",
            "--data-dir", str(data_dir), "--port", str(port), "--storage-port", str(storage_port),
            *extra_args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", proc)
    except Exception:
        _stop(proc)
        raise
    return LocalService(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{storage_port}", data_dir, proc)


@pytest.fixture(scope="session")
def local_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    """One local service for the whole session (tests use unique job ids)."""
    service = start_local_service(tmp_path_factory.mktemp("svc") / "data", "--max-concurrent-jobs", "4")
    try:
        yield service
    finally:
        _stop(service.proc)


@pytest.fixture
def local_conn(local_service: LocalService, monkeypatch: pytest.MonkeyPatch) -> LocalService:
    """Points the default connection at the session's local service (ml v1 backend)."""
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", local_service.conn_json())
    return local_service
