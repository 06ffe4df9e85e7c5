"""Keep-alive request latency of the local service (issue 13 item 6): TCP_NODELAY on every surface.

A server that writes an answer's headers and body in two sends, without TCP_NODELAY, holds the body back
(Nagle) until the client ACKs the headers, which a client with delayed ACK does ~40 ms later. Measured side
by side in one run: the service's own front handler serving ``/healthz`` in-process with and without the
socket option, then a real ``trainjobs-local serve`` through raw keep-alive HTTP and through the
discovery-built ml v1 client. Runnable alone: ``.venv/bin/python bench/bench_http.py``.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.service import ml_client  # noqa: E402

from airflow_provider_trainjobs.local.front import FrontHandler, LoopbackServer  # noqa: E402
from airflow_provider_trainjobs.local.launcher import serving  # noqa: E402

REQUESTS = 200
GOAL_MS = 2.0


class _Health(FrontHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.send_json(200, {"status": "ok"})


class _HealthWithoutNodelay(_Health):
    def setup(self) -> None:
        super().setup()
        import socket

        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)


def _timings(call: Callable[[], object], count: int = REQUESTS) -> list[float]:
    call()  # the connection is open and warm before timing
    times = []
    for _ in range(count):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _keep_alive(port: int, method: str, path: str, body: bytes | None = None) -> Callable[[], object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"} if body else {}

    def call() -> object:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        assert resp.status < 400, data
        return data

    return call


def _in_process(handler: type[FrontHandler]) -> list[float]:
    server = LoopbackServer(0, handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        return _timings(_keep_alive(server.port, "GET", "/healthz"), count=50)
    finally:
        server.shutdown()
        server.server_close()


def measure() -> dict[str, list[float]]:
    results = {
        "front handler, /healthz, TCP_NODELAY off (before)": _in_process(_HealthWithoutNodelay),
        "front handler, /healthz, TCP_NODELAY on": _in_process(_Health),
    }
    with tempfile.TemporaryDirectory() as tmp, serving(Path(tmp) / "data") as service:
        port = int(service.api_endpoint.rsplit(":", 1)[1])
        ml = ml_client(service.api_endpoint)
        job = {"jobId": "bench_http", "trainingInput": {"scaleTier": "BASIC", "region": "us-central1",
               "pythonModule": "trainer.task", "packageUris": ["gs://bench/missing.tar.gz"]}}
        ml.projects().jobs().create(parent="projects/local-project", body=job).execute()
        entries = json.dumps({"resourceNames": ["projects/local-project"],
                              "filter": 'resource.labels.job_id="bench_http"', "pageSize": 5}).encode()
        results["service, GET jobs/{id}, raw keep-alive"] = _timings(
            _keep_alive(port, "GET", "/v1/projects/local-project/jobs/bench_http"))
        results["service, POST entries:list, raw keep-alive"] = _timings(
            _keep_alive(port, "POST", "/v2/entries:list", entries))
        get = ml.projects().jobs().get(name="projects/local-project/jobs/bench_http")
        results["service, jobs.get through googleapiclient"] = _timings(get.execute)
    return results


def run() -> str:
    """The markdown section for docs/benchmarks.md."""
    results = measure()
    rows = [f"| {name} | {statistics.median(t):.2f} | {sorted(t)[int(len(t) * 0.95) - 1]:.2f} | {len(t)} |"
            for name, t in results.items()]
    service = [statistics.median(t) for name, t in results.items() if name.startswith("service")]
    met = "met" if max(service) <= GOAL_MS else "missed"
    return "\n".join([
        "## HTTP keep-alive latency",
        "",
        "Requests on one reused connection to the local service (127.0.0.1), after one warm-up request.",
        "",
        "| request | p50 ms | p95 ms | requests |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Goal: a keep-alive request to the local service ≤ {GOAL_MS:g} ms ({met}: p50 of the service rows"
        f" {max(service):.2f} ms at most). The first row is the same handler with TCP_NODELAY turned off,"
        " as every surface ran before: Nagle's algorithm waits for the client's delayed ACK.",
    ])


if __name__ == "__main__":
    print(run())
