"""Transient failures: retried with backoff through the local service's fault injection, bounded, and
a create whose response was lost re-attaches instead of creating a second job."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from support import lose_first_create_response, set_faults, tiny_job, unique

from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError
from airflow_provider_trainjobs.hooks.training import TrainingJobHook

LOG = logging.getLogger("fault-tests")
pytestmark = pytest.mark.usefixtures("no_faults")


def make_hook(max_retries: int = 5) -> TrainingJobHook:
    return TrainingJobHook(max_retries=max_retries, retry_delay=0.01, retry_max_delay=0.05)


def injected(service: Any) -> dict[str, int]:
    counts: dict[str, int] = set_faults(service.api_endpoint)["injected"]
    return counts


@pytest.mark.parametrize("code", [429, 503])
def test_throttling_and_server_errors_are_retried(tiny_package: str, local_conn: Any, code: int) -> None:
    hook = make_hook()
    job_id = unique(f"fault_{code}")
    before = injected(local_conn)["errors"]
    set_faults(local_conn.api_endpoint, codes=[code], fail_next=3)
    created = hook.create_job(tiny_job(job_id, tiny_package, lines=0))
    assert created["jobId"] == job_id
    assert injected(local_conn)["errors"] - before == 3
    assert [j["jobId"] for j in hook.list_jobs(filter=f"jobId:{job_id}")] == [job_id]


def test_retries_are_bounded_and_report_the_last_error(local_conn: Any) -> None:
    set_faults(local_conn.api_endpoint, codes=[503], fail_next=10)
    with pytest.raises(TrainingJobApiError) as info:
        make_hook(max_retries=2).get_job("whatever")
    assert info.value.status == 503 and info.value.transient
    assert "injected fault" in str(info.value)
    assert set_faults(local_conn.api_endpoint)["fail_next"] == 7  # 1 attempt + 2 retries spent


def test_dropped_connections_are_retried(tiny_package: str, local_conn: Any) -> None:
    hook = make_hook(max_retries=8)
    job_id = unique("fault_drop")
    hook.create_job(tiny_job(job_id, tiny_package, lines=0))
    before = injected(local_conn)["drops"]
    set_faults(local_conn.api_endpoint, drop_rate=0.5, seed=7)
    states = [hook.get_job(job_id)["jobId"] for _ in range(6)]
    set_faults(local_conn.api_endpoint, drop_rate=0.0)
    assert states == [job_id] * 6
    assert injected(local_conn)["drops"] > before


def test_create_whose_response_was_lost_attaches_to_the_job_it_made(tiny_package: str, local_conn: Any) -> None:
    """The service creates the job but the connection drops before the answer arrives (a fault the service
    cannot inject after doing the work, hence a transport wrapper): the retried POST gets 409, the spec
    matches, and the hook attaches - one job on the service."""
    hook = make_hook()
    job_id = unique("fault_lost")
    lost = lose_first_create_response(hook, ("/jobs",))
    job = hook.create_job(tiny_job(job_id, tiny_package, lines=0))
    assert lost, "the first POST was not intercepted"
    assert job["jobId"] == job_id
    assert [j["jobId"] for j in hook.list_jobs(filter=f"jobId:{job_id}*")] == [job_id]


def test_wait_tolerates_failed_polls_without_counting_them(tiny_package: str, local_conn: Any,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    hook = make_hook(max_retries=4)
    job_id = unique("fault_wait")
    hook.create_job(tiny_job(job_id, tiny_package, lines=1))
    set_faults(local_conn.api_endpoint, codes=[429], fail_next=4)
    with caplog.at_level(logging.WARNING, logger="fault-tests"):
        final = hook.wait_for_job(job_id, poll_interval=0.05, stream_logs=False, log=LOG)
    assert final["state"] == "SUCCEEDED"
    warnings = [r.getMessage() for r in caplog.records if "not counted as a check" in r.getMessage()]
    assert len(warnings) == 4 and "4 in a row" in warnings[-1]


def test_wait_fails_after_too_many_consecutive_failed_polls(tiny_package: str, local_conn: Any) -> None:
    hook = make_hook(max_retries=2)
    job_id = unique("fault_waitfail")
    hook.create_job(tiny_job(job_id, tiny_package, lines=0, sleep=30))
    set_faults(local_conn.api_endpoint, codes=[503], fail_next=3)
    with pytest.raises(TrainingJobApiError) as info:
        hook.wait_for_job(job_id, poll_interval=0.05, stream_logs=False)
    assert info.value.status == 503
    set_faults(local_conn.api_endpoint, fail_next=0)
    hook.cancel_job(job_id)


@contextmanager
def raw_server(on_connection: Callable[[socket.socket], None]) -> Iterator[int]:
    """A TCP server on 127.0.0.1 handing each accepted connection to ``on_connection``; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)  # so the loop sees ``stop`` (closing the socket does not wake accept())
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            on_connection(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        server.close()
        thread.join(timeout=5)


@pytest.fixture
def tls_eof_endpoint() -> Iterator[tuple[str, list[int]]]:
    """An https endpoint on 127.0.0.1 whose server reads the TLS hello and hangs up (an SSL EOF, the blip a
    proxy or load balancer produces); yields the endpoint and the list counting connections."""
    connections: list[int] = []

    def hang_up(conn: socket.socket) -> None:
        connections.append(1)
        with conn:
            conn.recv(4096)

    with raw_server(hang_up) as port:
        yield f"https://127.0.0.1:{port}", connections


def test_a_tls_eof_is_retried_through_the_real_client(tls_eof_endpoint: tuple[str, list[int]],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint, connections = tls_eof_endpoint
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps(
        {"conn_type": "trainjobs", "extra": {"project": "local-project", "api_endpoint": endpoint}}))
    with pytest.raises(TrainingJobApiError) as info:
        make_hook(max_retries=2).get_job("tls_blip")
    assert info.value.transient and isinstance(info.value.__cause__, ssl.SSLError)
    assert len(connections) == 3  # one attempt and two retries, not a permanent failure at the first


def test_fail_policy_attaches_to_the_job_its_own_lost_create_made(tiny_package: str, local_conn: Any) -> None:
    """on_conflict="fail" refuses jobs that existed before the call, not the one its first POST created
    when that POST's answer was lost and the retry met 409."""
    hook = make_hook()
    job_id = unique("fault_lost_fail")
    lost = lose_first_create_response(hook, ("/jobs",))
    job = hook.create_job(tiny_job(job_id, tiny_package, lines=0), on_conflict="fail")
    assert lost and job["jobId"] == job_id
    assert [j["jobId"] for j in hook.list_jobs(filter=f"jobId:{job_id}*")] == [job_id]
    # a later call (nothing retried) still refuses the existing job
    with pytest.raises(TrainingJobApiError, match="already exists"):
        make_hook().create_job(tiny_job(job_id, tiny_package, lines=0), on_conflict="fail")


def test_cancel_gives_up_within_its_short_budget(tiny_package: str, local_conn: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """cancel_job retries under RetryPolicy.for_cancel: bounded in seconds (CANCEL_RETRY_TOTAL, shrunk here
    so the test is quick), not by the hook's max_retries, so a kill fits the triggerer's on_kill budget."""
    from airflow_provider_trainjobs.hooks import retry

    monkeypatch.setattr(retry, "CANCEL_RETRY_TOTAL", 0.6)
    hook = make_hook(max_retries=50)
    job_id = unique("fault_cancel_budget")
    hook.create_job(tiny_job(job_id, tiny_package, lines=0, sleep=30))
    set_faults(local_conn.api_endpoint, codes=[503], fail_next=1000, latency=0.2)
    with pytest.raises(TrainingJobApiError) as info:
        hook.cancel_job(job_id)
    spent = 1000 - set_faults(local_conn.api_endpoint)["fail_next"]
    set_faults(local_conn.api_endpoint, fail_next=0, latency=0.0)
    assert info.value.transient and info.value.status == 503
    assert 1 <= spent < 51  # stopped by the seconds budget, long before 50 retries
    hook.cancel_job(job_id)


@pytest.fixture
def silent_endpoint() -> Iterator[tuple[str, list[socket.socket]]]:
    """An http endpoint on 127.0.0.1 that accepts connections and never answers (a silently dropping
    proxy); yields the endpoint and the list counting connections."""
    connections: list[socket.socket] = []
    try:
        with raw_server(connections.append) as port:  # held open, never answered
            yield f"http://127.0.0.1:{port}", connections
    finally:
        for conn in connections:
            conn.close()


def test_a_silent_logging_endpoint_stops_the_tailing_not_the_wait(
        tiny_package: str, local_service: Any, silent_endpoint: tuple[str, list[socket.socket]],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Jobs on the real local service, logs on an endpoint that never answers: each read gives up after the
    (here shortened) log timeout, and after max_retries reads in a row the wait stops asking for logs, warns
    once, and still returns the SUCCEEDED job."""
    import airflow_provider_trainjobs.hooks.training as training

    endpoint, connections = silent_endpoint
    monkeypatch.setattr(training, "LOG_HTTP_TIMEOUT", 0.2)
    extras = {**local_service.conn_extras(), "logging_endpoint": endpoint}
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps({"conn_type": "trainjobs", "extra": extras}))
    hook = make_hook(max_retries=2)
    job_id = unique("fault_silentlogs")
    hook.create_job(tiny_job(job_id, tiny_package, lines=1, sleep=1.5))
    with caplog.at_level(logging.INFO, logger="fault-tests"):
        final = hook.wait_for_job(job_id, poll_interval=0.05, log=LOG)
    assert final["state"] == "SUCCEEDED"
    messages = [r.getMessage() for r in caplog.records if r.name == LOG.name]
    stopped = [m for m in messages if m.startswith(f"Not streaming the logs of job {job_id}")]
    assert len(stopped) == 1 and "2 reads failed in a row" in stopped[0]
    # two reads (httplib2 may reconnect once per read), not one per poll for the rest of the job
    assert 2 <= len(connections) <= 4
