"""Shared fixtures: a temporary Airflow home, the real Cloud Storage emulator and the real local service.

Servers bind to 127.0.0.1 and are stopped by the fixture that started them; the process handling
lives in ``airflow_provider_trainjobs.local.launcher`` (shared with the demo and the benchmarks).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="trainjobs-airflow-home-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

from airflow_provider_trainjobs.local.launcher import (  # noqa: E402 - after the Airflow environment is set
    LOCAL_PROJECT,
    ServiceProcess,
    free_port,
    start_service,
    start_storage_emulator,
    stop_process,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
LocalService = ServiceProcess

__all__ = ["LOCAL_PROJECT", "LocalService", "free_port", "start_local_service"]


def start_local_service(data_dir: Path, *extra_args: str) -> ServiceProcess:
    """Start ``python -m airflow_provider_trainjobs.local serve`` on free ports and wait for /healthz."""
    return start_service(data_dir, *extra_args)


@pytest.fixture(scope="session")
def storage_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A standalone gcp-storage-emulator process; yields its endpoint URL."""
    endpoint, proc = start_storage_emulator(tmp_path_factory.mktemp("gcs"))
    try:
        yield endpoint
    finally:
        stop_process(proc)


@pytest.fixture
def storage_conn(storage_emulator: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Points the default connection at the storage emulator; returns its extras."""
    extras = {"project": LOCAL_PROJECT, "storage_endpoint": storage_emulator}
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps({"conn_type": "trainjobs", "extra": extras}))
    return extras


@pytest.fixture(scope="session")
def local_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One local service for the whole session (tests use unique job ids)."""
    service = start_service(tmp_path_factory.mktemp("svc") / "data", "--max-concurrent-jobs", "4")
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def local_conn(local_service: ServiceProcess, monkeypatch: pytest.MonkeyPatch) -> ServiceProcess:
    """Points the default connection at the session's local service (ml v1 backend)."""
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", local_service.conn_json())
    return local_service
