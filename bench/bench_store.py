"""Store benchmark: what a create, a list page and an idle service cost as the number of jobs grows.

Starts a real ``trainjobs-local serve --max-concurrent-jobs 0`` (every job stays QUEUED) in a temporary
data dir and fills it over HTTP. At N = 1, 100, 1,000 and 5,000 jobs it times creates (p50 of 30) and
one list page of 100; at 5,000 queued it reads the service's CPU time over 5 idle seconds; at 10,000 it
walks every job in pages of 100 over HTTP, and through ``Engine.list_page`` on the same database.
Runnable alone: ``.venv/bin/python bench/bench_store.py``.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from airflow_provider_trainjobs.local.launcher import ServiceProcess, serving

PROJECT = "local-project"
LEVELS = (1, 100, 1000, 5000)
WALK_JOBS = 10_000
SAMPLES = 30
GOAL_CREATE_MS = 10.0
GOAL_WALK_S = 2.0
GOAL_IDLE_CPU = 0.02
IDLE_SECONDS = 5.0
FLOOD_CAP = 1000
FLOOD_LINES = 200_000


def _body(job_id: str) -> dict[str, Any]:
    return {"jobId": job_id, "labels": {"batch": job_id[-1]},
            "trainingInput": {"scaleTier": "BASIC", "region": "us-central1",
                              "packageUris": ["gs://bench/trainer-0.1.tar.gz"], "pythonModule": "trainer.task"}}


def _call(service: ServiceProcess, method: str, path: str, body: Any = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{service.api_endpoint}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as resp:
        return dict(json.loads(resp.read()))


def _create(service: ServiceProcess, job_id: str) -> float:
    started = time.perf_counter()
    _call(service, "POST", f"/v1/projects/{PROJECT}/jobs", _body(job_id))
    return time.perf_counter() - started


def _fill(service: ServiceProcess, start: int, stop: int) -> None:
    """Create jobs until ``stop`` exist (``start`` exist now)."""
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: _create(service, f"fill_{i:06d}"), range(start, stop)))


def _list_page(service: ServiceProcess, token: str = "") -> tuple[float, dict[str, Any]]:
    query = "?pageSize=100" + (f"&pageToken={token}" if token else "")
    started = time.perf_counter()
    page = _call(service, "GET", f"/v1/projects/{PROJECT}/jobs{query}")
    return time.perf_counter() - started, page


def _walk_http(service: ServiceProcess) -> tuple[float, int]:
    started, seen, token = time.perf_counter(), 0, ""
    while True:
        _, page = _list_page(service, token)
        seen += len(page.get("jobs", []))
        token = page.get("nextPageToken", "")
        if not token:
            return time.perf_counter() - started, seen


def _engine(data_dir: Path) -> Any:
    """An Engine reading the service's database beside it (SQLite WAL: a second reader is fine)."""
    from airflow_provider_trainjobs.local.engine import Engine
    from airflow_provider_trainjobs.local.store import Store

    return Engine(Store(data_dir / "service.db"), data_dir, "http://127.0.0.1:1", max_concurrent_jobs=0)


def _engine_page(engine: Any, after: int) -> tuple[float, Any]:
    started = time.perf_counter()
    page = engine.list_page(PROJECT, lambda job: "vertex" not in job, filter_text=None, page_size=100,
                            after_seq=after)
    return time.perf_counter() - started, page


def _walk_engine(engine: Any) -> tuple[float, int]:
    """Walk every job through Engine.list_page (what the list routes call once they page by SQL)."""
    started, seen, after = time.perf_counter(), 0, 0
    while True:
        page = _engine_page(engine, after)[1]
        seen += len(page.jobs)
        if not page.next_token:
            return time.perf_counter() - started, seen
        after = int(page.next_token)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _idle_cpu(service: ServiceProcess) -> float:
    time.sleep(1.0)
    before = _cpu_seconds(service.proc.pid)
    time.sleep(IDLE_SECONDS)
    return (_cpu_seconds(service.proc.pid) - before) / IDLE_SECONDS


def _log_costs(tmp: Path) -> list[str]:
    """Per-line cost of a trainer's output (one line per call, as it arrives) with N lines already stored,
    and of lines past the cap; the database size after a 200,000-line flood under a 1,000-line cap."""
    from airflow_provider_trainjobs.local.store import LogCap, Store

    row = ("INFO", "master-replica-0", None, "step 123 loss=0.4321 accuracy=0.8765 " + "x" * 40)
    store = Store(tmp / "levels.db")  # the default cap
    lines = []
    for level in (1, 100, 1000):
        store.add_logs(PROJECT, f"job{level}", [row] * level)
        started = time.perf_counter()
        for _ in range(200):
            store.add_logs(PROJECT, f"job{level}", [row])
        lines.append(f"| {level:,} | {(time.perf_counter() - started) / 200 * 1e6:.0f} µs |")
    store.close()
    store = Store(tmp / "logs.db", LogCap(max_entries=FLOOD_CAP, max_bytes=10**9))
    started = time.perf_counter()
    for _ in range(FLOOD_LINES):
        store.add_logs(PROJECT, "flood", [row])
    flood_s = time.perf_counter() - started
    store.end_logs(PROJECT, "flood")
    kept = len(store.logs(PROJECT, "flood", limit=10 * FLOOD_CAP))
    store.close()
    size = sum(p.stat().st_size for p in tmp.glob("logs.db*")) / 1e6
    return [
        "| lines already stored | cost per line stored |",
        "|---|---|",
        *lines,
        "",
        f"A trainer printing {FLOOD_LINES:,} lines under `--max-log-entries {FLOOD_CAP:,}`: {kept:,} rows kept "
        f"(the cap and one truncation entry), {flood_s / FLOOD_LINES * 1e6:.0f} µs per line, database "
        f"{size:.1f} MB in all.",
    ]


def _verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def run() -> str:
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp, \
            serving(Path(tmp) / "data", "--max-concurrent-jobs", "0") as service:
        total, create_p50, idle = 0, 0.0, 0.0
        for level in LEVELS:
            _fill(service, total, level)  # `level` jobs queued before the probes
            times = [_create(service, f"probe_{level}_{i:03d}") for i in range(SAMPLES)]
            total = level + SAMPLES
            page_s = statistics.median(_list_page(service)[0] for _ in range(5))
            engine = _engine(service.data_dir)
            deep_s = statistics.median(_engine_page(engine, max(0, total - 100))[0] for _ in range(5))
            engine.store.close()
            create_p50 = statistics.median(times)
            rows.append(f"| {level:,} | {create_p50 * 1000:.1f} ms | {deep_s * 1000:.2f} ms | {page_s * 1000:.1f} ms |")
            if level == 5000:
                idle = _idle_cpu(service)
        _fill(service, total, WALK_JOBS)
        walk_http, seen_http = _walk_http(service)
        engine = _engine(service.data_dir)
        walk_engine, seen_engine = _walk_engine(engine)
        engine.store.close()
        log_lines = _log_costs(Path(tmp))
    return "\n".join([
        "## Store: cost per request as the number of jobs grows",
        "",
        "A real `trainjobs-local serve --max-concurrent-jobs 0` (every job stays QUEUED), filled over HTTP;",
        "create = p50 of 30 ml v1 creates over HTTP; `Engine.list_page` = p50 of 5 reads of the last page of 100",
        "(keyset: its cost does not depend on the jobs before it); HTTP list = p50 of 5 first pages of 100 through",
        "`projects.jobs.list`, whose route serves the page from `Engine.list_page` (SQL keyset pages, only the",
        "page's rows decoded) (`bench/bench_store.py`).",
        "",
        "| jobs queued | create p50 | `Engine.list_page` of 100 | HTTP list page of 100 |",
        "|---|---|---|---|",
        *rows,
        "",
        f"- create p50 with 5,000 queued: {create_p50 * 1000:.1f} ms (goal ≤ {GOAL_CREATE_MS:.0f} ms: "
        f"{_verdict(create_p50 * 1000 <= GOAL_CREATE_MS)})",
        f"- idle CPU with 5,000 queued: {idle * 100:.2f}% of a core over {IDLE_SECONDS:.0f} s "
        f"(goal < {GOAL_IDLE_CPU * 100:.0f}%: {_verdict(idle < GOAL_IDLE_CPU)})",
        f"- walking {seen_engine:,} jobs in pages of 100 through `Engine.list_page` (SQL keyset pages): "
        f"{walk_engine:.2f} s (goal ≤ {GOAL_WALK_S:.0f} s: {_verdict(walk_engine <= GOAL_WALK_S)})",
        f"- the same walk over HTTP (`projects.jobs.list`, {seen_http:,} jobs): {walk_http:.2f} s "
        f"(goal ≤ {GOAL_WALK_S:.0f} s: {_verdict(walk_http <= GOAL_WALK_S)})",
        "",
        "### Trainer log lines (`Store.add_logs`, in process)",
        "",
        *log_lines,
    ])


if __name__ == "__main__":
    print(run())
