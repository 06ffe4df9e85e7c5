"""Shared fixtures: a temporary Airflow home, the real Cloud Storage emulator, the real local service (plus a
lenient one), the one test trainer built and staged, and the backend parametrisation.

Servers bind to 127.0.0.1 and are stopped by the fixture that started them; the process handling
lives in ``airflow_provider_trainjobs.local.launcher`` (shared with the demo and the benchmarks).
Plain helpers live in the ``support`` package next to this file (``from support import ...``).
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

from support import build_trainer_sdist, set_faults, upload  # noqa: E402

from airflow_provider_trainjobs.local.launcher import (  # noqa: E402 - after the Airflow environment is set
    LOCAL_PROJECT,
    ServiceProcess,
    free_port,
    serving,
    start_service,
    start_storage_emulator,
    stop_process,
)

BACKENDS = ("ai-platform", "vertex")

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
    with serving(tmp_path_factory.mktemp("svc") / "data", "--max-concurrent-jobs", "4") as service:
        yield service


@pytest.fixture
def local_conn(local_service: ServiceProcess, monkeypatch: pytest.MonkeyPatch) -> ServiceProcess:
    """Points the default connection at the session's local service (ml v1 backend)."""
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", local_service.conn_json())
    return local_service


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, local_service: ServiceProcess, monkeypatch: pytest.MonkeyPatch) -> str:
    """The default connection on the session's local service, once per backend (ml v1, Vertex AI)."""
    name: str = request.param
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", local_service.conn_json(name))
    return name


@pytest.fixture(scope="session")
def lenient_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A second local service that enforces job deadlines 1000x later, so the waiter's own deadline
    handling (hook, trigger, sensor), not the service's, is what a test sees."""
    with serving(tmp_path_factory.mktemp("lenient") / "data", "--deadline-scale", "1000") as service:
        yield service


@pytest.fixture
def lenient_conn(lenient_service: ServiceProcess, trainer_sdist: Path,
                 monkeypatch: pytest.MonkeyPatch) -> tuple[ServiceProcess, str]:
    """Default connection set to the lenient service; returns (service, the trainer staged there)."""
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", lenient_service.conn_json())
    return lenient_service, upload(lenient_service.storage_endpoint, trainer_sdist)


@pytest.fixture(scope="session")
def trainer_sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test trainer (support/toolbox_src) as a real setuptools sdist, built once per session."""
    return build_trainer_sdist(tmp_path_factory.mktemp("trainer-dist"), tmp_path_factory.mktemp("trainer-build"))


@pytest.fixture(scope="session")
def staged_trainer(local_service: ServiceProcess, trainer_sdist: Path) -> str:
    """gs:// URI of the trainer staged on the session's local service (no connection set: see ``backend``)."""
    return upload(local_service.storage_endpoint, trainer_sdist)


@pytest.fixture
def tiny_package(local_conn: ServiceProcess, staged_trainer: str) -> str:
    """gs:// URI of the trainer staged on the session's local service, default connection set (ml v1)."""
    return staged_trainer


@pytest.fixture
def no_faults(local_service: ServiceProcess) -> Iterator[None]:
    """Leaves the session service's fault injection off after the test, whatever the test set."""
    yield
    set_faults(local_service.api_endpoint, error_rate=0.0, drop_rate=0.0, fail_next=0, latency=0.0,
               codes=[429, 500, 503])
