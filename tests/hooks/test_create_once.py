"""Creates never duplicate: the transport sends a POST once, and a create whose outcome is unknown is looked
up (jobId on ml v1, label and displayName on Vertex) before it is sent again.

The lost answers come from a proxy that forwards the create to the local service and then drops the client's
connection (tests/support/lossy_proxy.py): below httplib2, where its own re-send used to happen.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import httplib2
import pytest
from support import unique
from support.creates import create_many

from airflow_provider_trainjobs.hooks import clients
from airflow_provider_trainjobs.hooks.clients import new_http

pytestmark = pytest.mark.usefixtures("no_faults")


def test_a_lost_create_answer_is_looked_up_not_posted_again(backend: str, local_service: Any,
                                                            staged_trainer: str) -> None:
    result = create_many(local_service, backend, staged_trainer, unique("once_lost"), 1, lose_rate=1.0, error_rate=0)
    assert result == {"jobs": 1, "twins": 0, "failed": 0, "posts": 1, "lost": 1}


@pytest.mark.parametrize("backend", ["vertex"], indirect=True)
def test_httplib2s_own_resend_made_the_twin(backend: str, local_service: Any, staged_trainer: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The failure this guards against: with plain httplib2 the lost answer is re-sent underneath the hook."""
    monkeypatch.setattr(clients, "_one_shot_http_class", lambda: httplib2.Http)
    result = create_many(local_service, backend, staged_trainer, unique("plain_lost"), 1, lose_rate=1.0, error_rate=0)
    assert result["posts"] == 2 and result["twins"] == 1


def test_lost_answers_and_server_errors_never_make_twins(backend: str, local_service: Any,
                                                         staged_trainer: str) -> None:
    """A smaller run of the benchmark's 100 creates (bench/bench_create.py): more answers lost, so some are."""
    result = create_many(local_service, backend, staged_trainer, unique("many_lost"), 12, lose_rate=0.25,
                         error_rate=0.2, seed=3)
    assert result["lost"] > 0 and result["posts"] > 12
    assert (result["jobs"], result["twins"], result["failed"]) == (12, 0, 0)


@pytest.fixture
def hang_up_endpoint() -> Iterator[tuple[str, list[str]]]:
    """An http endpoint that reads each request and closes the connection without answering; yields it and
    the request lines it received."""
    server = socket.create_server(("127.0.0.1", 0))
    seen: list[str] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(65536)
                if data:
                    seen.append(data.split(b"\r\n", 1)[0].decode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", seen
    server.close()
    thread.join(timeout=5)


@pytest.mark.parametrize(("method", "sent"), [("POST", 1), ("PATCH", 1), ("GET", 2), ("PUT", 2)])
def test_the_transport_resends_only_idempotent_requests(hang_up_endpoint: tuple[str, list[str]], method: str,
                                                        sent: int) -> None:
    from google.auth.credentials import AnonymousCredentials

    endpoint, seen = hang_up_endpoint
    http = new_http(AnonymousCredentials(), timeout=5)  # type: ignore[no-untyped-call]
    with pytest.raises(ConnectionError):
        http.request(f"{endpoint}/v1/projects/p/jobs", method, body="{}" if method != "GET" else None)
    assert len(seen) == sent and all(line.startswith(method) for line in seen)


def test_a_create_sends_no_get_after_the_answer_that_holds_the_job(backend: str, staged_trainer: str) -> None:
    """ml v1: one POST. Vertex: the label look-up (a list) and one POST. The create's answer is the view."""
    from support import backend_job

    from airflow_provider_trainjobs.hooks.training import TrainingJobHook

    hook = TrainingJobHook(retry_delay=0.01)
    http = hook._client("training")._http
    real_request = http.request
    sent: list[str] = []

    def request(uri: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        sent.append(f"{method} {uri.split('?')[0].rsplit('/', 1)[-1]}")
        return real_request(uri, method, *args, **kwargs)

    http.request = request
    job_id = unique("create_no_get")
    created = hook.create_job(backend_job(backend, job_id, staged_trainer, lines=0))
    assert created["jobId"] == job_id and created["state"] in ("QUEUED", "PREPARING", "RUNNING", "SUCCEEDED")
    assert sent == (["GET customJobs", "POST customJobs"] if backend == "vertex" else ["POST jobs"])
