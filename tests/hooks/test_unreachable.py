"""A connection error names the endpoint it could not reach; a loopback one hints at ``trainjobs-local status``."""

from __future__ import annotations

import json
import socket

import pytest

from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError, unreachable
from airflow_provider_trainjobs.hooks.training import TrainingJobHook


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("backend", ["ai-platform", "vertex"])
def test_a_closed_local_port_names_the_endpoint_and_hints_at_status(backend: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps({"conn_type": "trainjobs", "extra": {
        "project": "local-project", "backend": backend, "region": "us-central1", "api_endpoint": endpoint}}))
    hook = TrainingJobHook(max_retries=1, retry_delay=0.01)
    with pytest.raises(TrainingJobApiError) as info:
        hook.get_job("projects/local-project/locations/us-central1/customJobs/1" if backend == "vertex" else "j")
    message = str(info.value)
    assert f"cannot reach {endpoint} (ConnectionRefusedError(111" in message
    assert "`trainjobs-local status`" in message
    assert info.value.transient and info.value.status is None
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


def test_a_remote_endpoint_is_named_without_the_local_hint() -> None:
    err = unreachable("getting job j", "https://europe-west4-aiplatform.googleapis.com/v1/projects/p",
                      ConnectionResetError(104, "Connection reset by peer"))
    assert str(err) == ("getting job j failed: connection error: cannot reach https://europe-west4-aiplatform"
                        ".googleapis.com (ConnectionResetError(104, 'Connection reset by peer'))")
    assert "trainjobs-local" not in str(err) and err.transient
