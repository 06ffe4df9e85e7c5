"""Fixtures for the job operator tests: buckets on the session's local service and unique dag ids."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage


@pytest.fixture
def new_bucket(local_service: Any) -> Callable[[], storage.Bucket]:
    """Creates uniquely named buckets in the local service's storage emulator."""
    client = storage.Client(project="local-project", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": local_service.storage_endpoint})

    def create() -> storage.Bucket:
        return client.create_bucket(f"ops-{uuid.uuid4().hex[:12]}")

    return create


@pytest.fixture
def unique_dag_id() -> str:
    """A dag id no other test uses, so default job ids never collide across tests."""
    return f"ops_{uuid.uuid4().hex[:10]}"


def _vertex_routes_served(api_endpoint: str) -> bool:
    import urllib.error
    import urllib.request

    url = f"{api_endpoint}/v1/projects/local-project/locations/us-central1/customJobs"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError:
        return False


@pytest.fixture(scope="session")
def vertex_served(local_service: Any) -> bool:
    """Whether the session's local service answers the aiplatform v1 routes (probed once)."""
    return _vertex_routes_served(local_service.api_endpoint)


@pytest.fixture(params=["ai-platform", "vertex"])
def backend(request: pytest.FixtureRequest, local_service: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The default connection on the session's local service, once per backend (vertex skipped until served)."""
    name: str = request.param
    if name == "vertex" and not request.getfixturevalue("vertex_served"):
        pytest.skip("the local service does not serve the aiplatform v1 customJobs routes yet")
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", local_service.conn_json(name))
    return name
