"""Console benchmark: what the job index and a job page cost as the number of jobs and log lines grows.

Starts a real ``trainjobs-local serve --max-concurrent-jobs 0`` (every job stays QUEUED) in a temporary
data dir and fills it over HTTP. At N = 1, 100 and 1,000 jobs it times (p50 of 10) the first index page,
a label-filtered index page, and the last page (followed by its token); then the job page of a job with
N log lines, unfiltered and filtered to one replica. Runnable alone: ``.venv/bin/python bench/bench_console.py``.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from pathlib import Path

from airflow_provider_trainjobs.local.launcher import ServiceProcess, serving

PROJECT = "local-project"
LEVELS = (1, 100, 1000)
SAMPLES = 10
PAGE = 50


def _create(service: ServiceProcess, job_id: str) -> None:
    body = {"jobId": job_id, "labels": {"batch": str(int(job_id[-6:]) % 10)},
            "trainingInput": {"scaleTier": "BASIC", "region": "us-central1",
                              "packageUris": ["gs://bench/trainer-0.1.tar.gz"], "pythonModule": "trainer.task"}}
    request = urllib.request.Request(f"{service.api_endpoint}/v1/projects/{PROJECT}/jobs", method="POST",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as resp:
        resp.read()


def _get(service: ServiceProcess, path: str) -> tuple[float, str]:
    started = time.perf_counter()
    with urllib.request.urlopen(f"{service.api_endpoint}{path}", timeout=120) as resp:
        page = resp.read().decode()
    return time.perf_counter() - started, page


def _p50_ms(service: ServiceProcess, path: str) -> float:
    return statistics.median(_get(service, path)[0] for _ in range(SAMPLES)) * 1000


def _last_page(service: ServiceProcess) -> str:
    """The path of the index's last page, reached by following the next-page links."""
    path = f"/console?size={PAGE}"
    while True:
        found = re.search(r'id="next-page" href="([^"]+)"', _get(service, path)[1])
        if not found:
            return path
        path = unescape(found[1])


def _add_logs(data_dir: Path, job_id: str, lines: int) -> None:
    """``lines`` log rows for one job, half from each of two replicas (written beside the service: SQLite WAL)."""
    from airflow_provider_trainjobs.local.store import Store

    store = Store(data_dir / "service.db")
    rows: list[tuple[str, str, str | None, str]] = [("INFO", f"{'master' if i % 2 else 'worker'}-replica-0", None, f"epoch {i} loss 0.1")
            for i in range(lines)]
    store.add_logs(PROJECT, job_id, rows)
    store.close()


def run() -> str:
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp, \
            serving(Path(tmp) / "data", "--max-concurrent-jobs", "0") as service:
        total = 0
        for level in LEVELS:
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda i: _create(service, f"job_{i:06d}"), range(total, level)))
            total = level
            first = _p50_ms(service, f"/console?size={PAGE}")
            labelled = _p50_ms(service, f"/console?size={PAGE}&label=batch:3")
            last = _p50_ms(service, _last_page(service))
            log_job = f"logs_{level:06d}"
            _create(service, log_job)
            total += 1
            _add_logs(service.data_dir, log_job, level)
            page = _p50_ms(service, f"/console/jobs/{log_job}")
            replica = _p50_ms(service, f"/console/jobs/{log_job}?replica=master-replica-0")
            rows.append(f"| {level:,} | {first:.1f} ms | {labelled:.1f} ms | {last:.1f} ms | {page:.1f} ms |"
                        f" {replica:.1f} ms |")
    return "\n".join([
        "## Console: cost of a page as jobs and log lines grow",
        "",
        f"A real `trainjobs-local serve --max-concurrent-jobs 0`, filled over HTTP; p50 of {SAMPLES} GETs each.",
        f"Index pages of {PAGE} (`/console`): the first, one filtered by a label (1 job in 10 has it), and the",
        "last page (reached through the next-page links). Job page: a job with N log lines, its whole tail and",
        "the tail filtered to one replica (`?replica=`); `bench/bench_console.py`.",
        "",
        "| N (jobs, log lines) | index, first page | index, label filter | index, last page | job page | job page, one replica |",
        "|---|---|---|---|---|---|",
        *rows,
    ])


if __name__ == "__main__":
    print(run())
