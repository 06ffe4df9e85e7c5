"""Fault injection: runtime switch through /admin/faults; errors, dropped connections; never on /healthz."""

from __future__ import annotations

import http.client
import json
import urllib.request
from typing import Any

import pytest
from googleapiclient.errors import HttpError
from support import ml_client, set_faults

from airflow_provider_trainjobs.local.launcher import start_service


@pytest.fixture
def faulty(tmp_path: Any) -> Any:
    service = start_service(tmp_path / "data", "--fault-seed", "7")
    try:
        yield service
    finally:
        service.proc.terminate()
        service.proc.wait(timeout=30)


def test_forced_errors_then_recovery(faulty: Any) -> None:
    ml = ml_client(faulty.api_endpoint)
    assert ml.projects().jobs().list(parent="projects/local-project").execute() == {}
    set_faults(faulty.api_endpoint, fail_next=2, codes=[503])

    for _ in range(2):
        with pytest.raises(HttpError) as err:
            ml.projects().jobs().list(parent="projects/local-project").execute()
        assert err.value.resp.status == 503
        assert json.loads(err.value.content)["error"]["status"] == "UNAVAILABLE"
    with urllib.request.urlopen(f"{faulty.api_endpoint}/healthz", timeout=5) as resp:
        assert resp.status == 200
    assert ml.projects().jobs().list(parent="projects/local-project").execute() == {}


def test_error_rate_injects_only_listed_codes(faulty: Any) -> None:
    ml = ml_client(faulty.api_endpoint)
    set_faults(faulty.api_endpoint, error_rate=0.5, codes=[429, 500])
    codes = []
    for _ in range(40):
        try:
            ml.projects().jobs().list(parent="projects/local-project").execute(num_retries=0)
            codes.append(200)
        except HttpError as err:
            codes.append(err.resp.status)
    assert set(codes) <= {200, 429, 500}
    assert 200 in codes and (429 in codes or 500 in codes)
    state = set_faults(faulty.api_endpoint, error_rate=0.0)
    assert state["injected"]["errors"] == sum(1 for c in codes if c != 200)


def test_dropped_connection_and_bad_settings(faulty: Any) -> None:
    set_faults(faulty.api_endpoint, drop_rate=1.0)
    host, port = faulty.api_endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        conn.request("GET", "/v1/projects/local-project/jobs")
        conn.getresponse()
    conn.close()
    set_faults(faulty.api_endpoint, drop_rate=0.0)
    with pytest.raises(urllib.error.HTTPError) as err:
        set_faults(faulty.api_endpoint, error_rate=2)
    assert err.value.code == 400 and "error_rate" in json.loads(err.value.read())["error"]["message"]


def test_latency_delays_api_answers_but_not_healthz(faulty: Any) -> None:
    host, port = faulty.api_endpoint.removeprefix("http://").split(":")
    set_faults(faulty.api_endpoint, latency=5.0)
    slow = http.client.HTTPConnection(host, int(port), timeout=0.5)  # 10x shorter than the latency
    try:
        with pytest.raises(TimeoutError):
            slow.request("GET", "/v1/projects/local-project/jobs")
            slow.getresponse()
    finally:
        slow.close()
    quick = http.client.HTTPConnection(host, int(port), timeout=0.5)
    try:
        quick.request("GET", "/healthz")
        assert quick.getresponse().status == 200
    finally:
        quick.close()
    assert set_faults(faulty.api_endpoint, latency=0.0)["latency"] == 0.0
    assert ml_client(faulty.api_endpoint).projects().jobs().list(parent="projects/local-project").execute() == {}
