"""Waiting at scale: requests, CPU and RSS of N ``TrainingJobTrigger``s in one asyncio loop, and detection latency.

Starts a real ``trainjobs-local serve --max-concurrent-jobs 0`` (every job stays QUEUED and no trainer process
runs, which costs a waiter the same as RUNNING: 1,000 real trainers would not fit a small machine), whose ``entries:list`` reads the OR filter over job ids the poller sends, as Cloud
Logging does. For each N a fresh child
process runs N triggers at the default interval in one loop, as a triggerer does, and reports the poller's own
request counts (``hooks.poller.REQUESTS``), its CPU seconds and RSS, the wall time of each refresh and the
service's CPU seconds in the same window. Then a second service runs short trainers
whose end the trigger, the sync wait (``TrainingJobHook.wait_for_job``) and the sensor's poke loop detect.
Runnable alone: ``.venv/bin/python bench/bench_waiting.py``.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

from support.jobs import tiny_job  # noqa: E402
from support.service import ml_client, upload  # noqa: E402
from support.trainer import build_trainer_sdist  # noqa: E402

from airflow_provider_trainjobs.hooks.logs import batch_log_filter  # noqa: E402
from airflow_provider_trainjobs.hooks.poller import (  # noqa: E402
    LIST_FILTER,
    LIST_PAGE,
    MAX_FILTER,
    MAX_LOG_FILTERS,
    SHORT_LIST_FILTER,
)
from airflow_provider_trainjobs.local.launcher import ServiceProcess, serving  # noqa: E402
from airflow_provider_trainjobs.naming import JOB_ID_MAX_LENGTH  # noqa: E402

SIZES = (1, 10, 100, 500, 1000)
INTERVAL = 10.0  # the trigger's default poll_interval
WINDOW_TICKS = 2  # refreshes measured per N after the first (scaled down from a minute; extrapolated)
LATENCY_JOBS = 4  # per waiter kind; the trainers end 2..8 s after they start, at different poll phases
PREFIX = "waiting_"
GOAL_REQUESTS = 30
GOAL_ENTRIES = 12
GOAL_RSS_MB = 0.5
SERVICE_PID = "TRAINJOBS_BENCH_SERVICE_PID"  # the child reads the service's CPU time from /proc


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def _service_cpu_s() -> float:
    """The local service process's CPU seconds (user + system, from /proc), 0 when it cannot be read."""
    try:
        fields = Path(f"/proc/{os.environ[SERVICE_PID]}/stat").read_text().rsplit(")", 1)[1].split()
    except (KeyError, OSError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ids_per_log_filter(job_id: str) -> int:
    """How many log ids like ``job_id`` one entries:list filter of at most MAX_FILTER characters holds."""
    floor = "2026-01-01T00:00:00.000000000Z"  # the shared floor's shape: a nanosecond RFC 3339 stamp
    k = 1
    while len(batch_log_filter([job_id] * (k + 1), floor, {})) <= MAX_FILTER:
        k += 1
    return k


def ids_per_list_filter(job_id: str, limit: int) -> int:
    """How many ids like ``job_id`` one jobs.list call holds: LIST_PAGE, fewer past ``limit`` characters."""
    term = len(f'jobId="{job_id}"')
    return max(1, min(LIST_PAGE, (limit + 4) // (term + 4)))  # terms joined by " OR "


def child(n: int) -> dict[str, Any]:
    """In a fresh process: N triggers in one loop; counts between the end of the first refresh and
    WINDOW_TICKS refreshes later (the triggers' registration and first read are not the steady state)."""
    import asyncio

    from airflow_provider_trainjobs.hooks.poller import REQUESTS, JobPoller
    from airflow_provider_trainjobs.hooks.training import TrainingJobHook
    from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger

    ids = [f"{PREFIX}{i:04d}" for i in range(n)]
    TrainingJobHook().get_job(ids[0])  # imports and the discovery client: a triggerer has them already
    rss0 = _rss_mb()
    walls: list[float] = []  # wall seconds of every refresh (on the executor: the HTTP round trips included)
    refresh = JobPoller._refresh

    def timed(self: JobPoller, batch: list[Any]) -> Any:
        started = time.monotonic()
        try:
            return refresh(self, batch)
        finally:
            walls.append(time.monotonic() - started)

    JobPoller._refresh = timed  # type: ignore[method-assign]  # measure the poller's own refresh, unchanged

    async def main() -> dict[str, Any]:
        async def one(trigger: TrainingJobTrigger) -> None:
            async for _ in trigger.run():
                return

        tasks = [asyncio.ensure_future(one(TrainingJobTrigger(job_id, poll_interval=INTERVAL))) for job_id in ids]
        while not JobPoller._pollers or not all(
                w.answered is not None and w.waiter is not None and not w.waiter.done()
                for p in JobPoller._pollers.values() for w in p.watches) or \
                sum(len(p.watches) for p in JobPoller._pollers.values()) < n:
            await asyncio.sleep(0.1)
        (poller,) = JobPoller._pollers.values()
        first = dict(REQUESTS)
        refreshes0, cpu0, service0, walls0, t0 = poller.refreshes, _cpu_s(), _service_cpu_s(), len(walls), \
            time.monotonic()
        seen, last = 0, min(w.answered or 0.0 for w in poller.watches)
        while seen < WINDOW_TICKS:  # a refresh is over once every watch has its answer and waits again
            await asyncio.sleep(0.1)
            oldest = min(w.answered or 0.0 for w in poller.watches)
            if oldest > last and all(w.waiter is not None and not w.waiter.done() for w in poller.watches):
                seen, last = seen + 1, oldest
        elapsed, cpu, service_cpu = time.monotonic() - t0, _cpu_s() - cpu0, _service_cpu_s() - service0
        counts = {k: v - first.get(k, 0) for k, v in REQUESTS.items()}
        rss1 = _rss_mb()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return {"n": n, "first": first, "counts": counts, "refreshes": poller.refreshes - refreshes0,
                "elapsed": elapsed, "cpu": cpu, "service_cpu": service_cpu, "walls": walls[walls0:],
                "rss0": rss0, "rss1": rss1, "list_filter": poller.list_filter}

    return asyncio.run(main())


def _run_child(service: ServiceProcess, logging_endpoint: str, n: int) -> dict[str, Any]:
    env = {**os.environ, "STORAGE_EMULATOR_HOST": service.storage_endpoint, SERVICE_PID: str(service.proc.pid),
           "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT": json.dumps(
               {"conn_type": "trainjobs", "extra": {**service.conn_extras(), "logging_endpoint": logging_endpoint}})}
    out = subprocess.run([sys.executable, __file__, "--child", str(n)], env=env, check=True, capture_output=True,
                         text=True, timeout=240)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def scale(work: Path, package: Path) -> list[dict[str, Any]]:
    """The per-N figures, each N in its own child process against one QUEUED-only service."""
    with serving(work / "scale", "--max-concurrent-jobs", "0") as service, nullcontext(service.api_endpoint) as logs:
        uri = upload(service.storage_endpoint, package)
        ml = ml_client(service.api_endpoint)
        parent = f"projects/{service.project}"
        for i in range(max(SIZES)):
            ml.projects().jobs().create(parent=parent, body=tiny_job(f"{PREFIX}{i:04d}", uri)).execute()
        return [_run_child(service, logs, n) for n in SIZES]


def latency(work: Path, package: Path) -> dict[str, list[float]]:
    """Seconds from each job's endTime to the moment its waiter returned, per waiter kind, all concurrent."""
    import asyncio

    from airflow_provider_trainjobs.hooks.training import TrainingJobHook
    from airflow_provider_trainjobs.local.timestamps import parse_rfc3339
    from airflow_provider_trainjobs.sensors.training import TrainingJobSensor
    from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger

    kinds = ("trigger", "sync wait", "sensor (poke_interval 10 s)")
    jobs = {kind: [f"lat_{k}_{i}" for i in range(LATENCY_JOBS)] for k, kind in enumerate(kinds)}
    done: dict[str, float] = {}
    with serving(work / "latency", "--max-concurrent-jobs", str(len(kinds) * LATENCY_JOBS)) as service, \
            nullcontext(service.api_endpoint) as logs:
        os.environ["STORAGE_EMULATOR_HOST"] = service.storage_endpoint
        os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = json.dumps(
            {"conn_type": "trainjobs", "extra": {**service.conn_extras(), "logging_endpoint": logs}})
        uri = upload(service.storage_endpoint, package)
        hook = TrainingJobHook()
        for ids in jobs.values():
            for i, job_id in enumerate(ids):
                hook.create_job(tiny_job(job_id, uri, lines=1, sleep=2.0 + 2.0 * i))

        def sync(job_id: str) -> None:
            TrainingJobHook().wait_for_job(job_id, poll_interval=INTERVAL)
            done[job_id] = time.time()

        def sensor(job_id: str) -> None:
            poker = TrainingJobSensor(task_id=job_id, job_id=job_id, poke_interval=INTERVAL)
            while not poker.poke({}):  # type: ignore[arg-type]  # poke reads no context
                time.sleep(INTERVAL)
            done[job_id] = time.time()

        async def triggers() -> None:
            async def one(job_id: str) -> None:
                async for _ in TrainingJobTrigger(job_id, poll_interval=INTERVAL).run():
                    done[job_id] = time.time()

            await asyncio.gather(*(one(j) for j in jobs[kinds[0]]))

        threads = [threading.Thread(target=sync, args=(j,)) for j in jobs[kinds[1]]]
        threads += [threading.Thread(target=sensor, args=(j,)) for j in jobs[kinds[2]]]
        for thread in threads:
            thread.start()
        asyncio.run(triggers())
        for thread in threads:
            thread.join(120)
        ends = {j: parse_rfc3339(hook.get_job(j)["endTime"]) for ids in jobs.values() for j in ids}
    return {kind: sorted(done[j] - ends[j] for j in ids if j in done) for kind, ids in jobs.items()}


def _row(r: dict[str, Any]) -> tuple[str, float, float]:
    per_tick = {k: v / r["refreshes"] for k, v in r["counts"].items()}
    per_minute = {k: v * 60 / INTERVAL for k, v in per_tick.items()}
    total = sum(per_minute.values())
    entries = per_minute.get("entries.list", 0.0)
    growth = (r["rss1"] - r["rss0"]) / r["n"]
    cpu_per_min = r["cpu"] * 60 / r["elapsed"]
    service_per_min = r["service_cpu"] * 60 / r["elapsed"]
    wall = statistics.median(r["walls"]) if r["walls"] else float("nan")
    gets = per_minute.get("jobs.get", 0.0)
    lists = per_minute.get("jobs.list", 0.0)
    line = (f"| {r['n']} | {lists:.0f} | {gets:.0f} | {entries:.0f} | **{total:.0f}** | {total * 60 / r['n']:.1f} "
            f"| {wall:.2f} | {cpu_per_min:.2f} | {service_per_min:.2f} | {r['rss1'] - r['rss0']:+.1f} "
            f"| **{growth:.3f}** |")
    return line, total, entries


def _per_refresh(r: dict[str, Any], kind: str) -> float:
    return float(r["counts"].get(kind, 0)) / r["refreshes"]


def _bounds(results: list[dict[str, Any]]) -> list[str]:
    """What hooks/poller.py bounds a refresh to, with these ids and the longest ones, beside what was measured."""
    ours, longest = f"{PREFIX}0000", "x" * JOB_ID_MAX_LENGTH
    page, short, short_long = (ids_per_list_filter(ours, LIST_FILTER), ids_per_list_filter(ours, SHORT_LIST_FILTER),
                               ids_per_list_filter(longest, SHORT_LIST_FILTER))
    logs, logs_long = ids_per_log_filter(ours), ids_per_log_filter(longest)

    def pair(r: dict[str, Any], kind: str, per: int, most: int | None = None) -> str:
        bound = math.ceil(r["n"] / per)
        if most is None:
            return f"{_per_refresh(r, kind):.0f} (bound {bound})"
        return f"{_per_refresh(r, kind):.0f} (filters {bound if bound <= most else 1})"

    return [
        f"- Bound per refresh (hooks/poller.py): **jobs.list = ⌈N / {LIST_PAGE}⌉ per job kind** (ml v1 lists one"
        " kind, `jobs`; Vertex lists `customJobs` and `hyperparameterTuningJobs`, so twice that), because a list"
        f" call holds at most LIST_PAGE = {LIST_PAGE} ids in a filter of at most LIST_FILTER = {LIST_FILTER:,}"
        f" characters, which {LIST_PAGE} of the longest ({JOB_ID_MAX_LENGTH}-character) ids fit (on"
        " Vertex the translated `display_name` filter is at most 14,700). A service that refuses the long"
        f" filter gets filters of at most SHORT_LIST_FILTER = {SHORT_LIST_FILTER:,} characters from then on:"
        f" ⌈N / {short}⌉ for {len(ours)}-character ids like these, ⌈N / {short_long}⌉ for the longest. Plus one"
        " jobs.get per job the list did not answer (none here). **entries:list = ⌈N / k⌉ filters** of at most"
        f" MAX_FILTER = {MAX_FILTER:,} characters while that is at most MAX_LOG_FILTERS = {MAX_LOG_FILTERS}, else"
        " **one** filter over the project's `ml_job` log from the earliest floor (only the poller's own jobs'"
        " entries kept); one call per page of entries each (one here: a queued job logs nothing new), k ="
        f" {logs} for ids like these, {logs_long} for the longest.",
        "- Measured per refresh, jobs.list: " + ", ".join(
            f"N = {r['n']}: {pair(r, 'jobs.list', page if r['list_filter'] == LIST_FILTER else short)}"
            for r in results) + "; entries:list: " + ", ".join(
            f"N = {r['n']}: {pair(r, 'entries.list', logs, MAX_LOG_FILTERS)}" for r in results)
        + " (calls count pages: a filter whose answer passes the 1,000-entry page size takes more than one call)"
        + " (list filters of at most " + ", ".join(sorted({f"{r['list_filter']:,}" for r in results}))
        + " characters in every run).",
    ]


def run() -> str:
    """The markdown section for docs/benchmarks.md."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        package = build_trainer_sdist(work / "dist", work / "build")
        results = scale(work, package)
        lat = latency(work, package)
    rows = [_row(r) for r in results]
    by_n = {r["n"]: row for r, row in zip(results, rows, strict=True)}
    growth = {r["n"]: (r["rss1"] - r["rss0"]) / r["n"] for r in results}
    total_100 = by_n[100][1] if 100 in by_n else float("nan")
    entries_max = max(row[2] for row in rows)
    entries_at = [r["n"] for r, row in zip(results, rows, strict=True) if row[2] == entries_max]
    medians = {kind: statistics.median(v) for kind, v in lat.items() if v}

    def met(ok: bool) -> str:
        return "met" if ok else "missed"

    lat_rows = [f"| {kind} | {len(v)} | {', '.join(f'{x:.1f}' for x in v)} | **{medians[kind]:.1f}** |"
                for kind, v in lat.items() if v]
    lat_ok = all(m <= INTERVAL + 2 for m in medians.values()) and len(medians) == len(lat)
    big = [n for n in SIZES if n >= 100]
    return "\n".join([
        "## Waiting at scale (one poller per process)",
        "",
        f"N `TrainingJobTrigger`s (default `poll_interval` {INTERVAL:.0f} s, log tailing on) waiting in one asyncio loop"
        " of a fresh process, as a triggerer runs them, against `trainjobs-local serve --max-concurrent-jobs 0`"
        " (every job stays QUEUED, so no trainer process runs: a waiter reads a QUEUED job with the same requests"
        " as a RUNNING one, and 1,000 trainer processes would load this 2-CPU machine, not the waiter), whose `entries:list` reads the poller's OR filter"
        " over job ids as Cloud Logging does. Counts are the"
        " poller's own (`hooks.poller.REQUESTS`), all in one project. To keep the section short the window is"
        f" scaled down: {WINDOW_TICKS} refreshes after the first one (the registration read is left out), and"
        f" per minute = requests per refresh x {60 / INTERVAL:.0f} refreshes a minute; CPU is the process's CPU"
        " seconds in the window scaled to a minute, service CPU the local service's in the same window; refresh"
        " s is the median wall time of one refresh in the window (its HTTP round trips included). RSS growth is from before the first trigger (imports and"
        " one discovery client already made) to the end of the window.",
        "",
        "| N | jobs.list /min | jobs.get /min | entries:list /min | requests /min | requests per job-hour "
        "| refresh s | CPU s /min | service CPU s /min | RSS growth MB | RSS MB per trigger |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *(row[0] for row in rows),
        "",
        f"- N = 100: **{total_100:.0f} requests per minute** in all: goal <= {GOAL_REQUESTS} ({met(total_100 <= GOAL_REQUESTS)}).",
        f"- `entries:list` per minute per project, the most at any N: **{entries_max:.0f}** (N = "
        + ", ".join(str(n) for n in entries_at) + f"): goal <= {GOAL_ENTRIES} whatever N is"
        f" ({met(entries_max <= GOAL_ENTRIES)}; at most MAX_LOG_FILTERS = {MAX_LOG_FILTERS} filters a refresh,"
        f" {60 / INTERVAL:.0f} refreshes a minute, one page each when little is logged).",
        *_bounds(results),
        "- RSS per waiting trigger at N = " + ", ".join(f"{n}: **{growth[n]:.3f} MB**" for n in big)
        + f": goal <= {GOAL_RSS_MB} MB ({met(all(growth[n] <= GOAL_RSS_MB for n in big))}; at small N the"
        " figure is the poller's fixed cost, not a per-trigger one).",
        "",
        "Detection latency, terminal state to event: the job's `endTime` (service clock, same machine) to the"
        " moment the waiter returned; "
        f"{LATENCY_JOBS} trainers per waiter, ending 2-8 s after they start, all waiting at once at a"
        f" {INTERVAL:.0f} s interval (the sensor's own default `poke_interval` is 60 s; it was set to"
        f" {INTERVAL:.0f} s here), on a second service that runs them.",
        "",
        "| waiter | jobs | latencies s | median s |",
        "|---|---|---|---|",
        *lat_rows,
        "",
        f"- Median detection latency <= poll_interval + 2 s = {INTERVAL + 2:.0f} s: {met(lat_ok)}.",
        "- The lost-answer duplicate test is the `create` section (bench/bench_create.py); the keep-alive request"
        " time is measured where the local HTTP front's benchmark lives, not here.",
        f"- Command: `.venv/bin/python bench/run.py waiting` ({time.monotonic() - started:.0f} s measured).",
    ])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]))))
    else:
        print(run())
