"""Fixtures for the sensor tests: the tiny trainer staged on a local service, and a lenient second service.

Jobs are created directly through ``TrainingJobHook`` — the sensor waits on jobs "submitted elsewhere".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TINY_TRAINER = Path(__file__).resolve().parent.parent / "operators" / "tiny_app" / "tiny_trainer"


def _root_conftest(config: pytest.Config) -> Any:
    """tests/conftest.py as pytest loaded it (``import conftest`` could find another directory's)."""
    root = Path(__file__).resolve().parent.parent / "conftest.py"
    for module in config.pluginmanager.get_plugins():
        if getattr(module, "__file__", None) and Path(module.__file__).resolve() == root:
            return module
    raise RuntimeError("tests/conftest.py is not loaded")


@pytest.fixture(scope="session")
def tiny_sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny trainer built once per session, exactly as the operators build it."""
    from airflow_provider_trainjobs.packaging import build_training_package

    return build_training_package(TINY_TRAINER, tmp_path_factory.mktemp("sdist")).path


@pytest.fixture(scope="session")
def deadline_service(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[Any]:
    """A local service that enforces job deadlines 1000x later, so the sensor's own deadline handling shows."""
    service = _root_conftest(pytestconfig).start_local_service(
        tmp_path_factory.mktemp("sensor-deadline") / "data", "--deadline-scale", "1000"
    )
    try:
        yield service
    finally:
        service.proc.terminate()
        service.proc.wait(timeout=15)


@pytest.fixture(params=["ai-platform", "vertex"])
def backend(request: pytest.FixtureRequest, local_service: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The default connection on the session's local service, once per backend (vertex skipped until served)."""
    import urllib.error
    import urllib.request

    name: str = request.param
    if name == "vertex":
        url = f"{local_service.api_endpoint}/v1/projects/local-project/locations/us-central1/customJobs"
        try:
            with urllib.request.urlopen(url, timeout=10):
                pass
        except urllib.error.HTTPError:
            pytest.skip("the local service does not serve the aiplatform v1 customJobs routes yet")
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", local_service.conn_json(name))
    return name
