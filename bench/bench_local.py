"""Local service benchmark: jobs/minute, the service's own overhead per job, and per-trial overhead.

Starts a real ``trainjobs-local serve`` (``--max-concurrent-jobs 2``) on free ports in a temporary data dir,
submits a trivial trainer through the real discovery-built ml v1 client, and reads the service's
timestamps plus the trainer's own start/end times (printed by the trainer, read back via entries:list).
Runnable alone: ``.venv/bin/python bench/bench_local.py``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow_provider_trainjobs.local.launcher import ServiceProcess, serving

PROJECT = "local-project"
THROUGHPUT_JOBS = 20
OVERHEAD_JOBS = 8
TRIALS = 20
GOAL_JOB_S = 1.0
GOAL_TRIAL_S = 0.5

_TRAINER = '''import json, sys, time
t0 = time.time()
x = sum(i * i for i in range(20000))
print(json.dumps({"bench_t0": t0, "bench_t1": time.time()}), flush=True)
'''


def _ts(text: str) -> float:
    from airflow_provider_trainjobs.local.timestamps import parse_rfc3339

    return parse_rfc3339(text)


def _sdist(work: Path) -> Path:
    src = work / "src"
    (src / "benchtrainer").mkdir(parents=True)
    (src / "benchtrainer" / "__init__.py").write_text("")
    (src / "benchtrainer" / "task.py").write_text(_TRAINER)
    (src / "setup.py").write_text(
        "from setuptools import setup\nsetup(name='benchtrainer', version='0.1', packages=['benchtrainer'])\n"
    )
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(work / "dist")],
                   cwd=src, check=True, capture_output=True)
    return next((work / "dist").glob("*.tar.gz"))


def _clients(service: ServiceProcess) -> tuple[Any, Any, Any]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from googleapiclient.discovery import build

    endpoint = service.api_endpoint
    creds = AnonymousCredentials()  # type: ignore[no-untyped-call]
    ml = build("ml", "v1", credentials=creds, client_options={"api_endpoint": endpoint}, static_discovery=True)
    logging = build("logging", "v2", credentials=creds, client_options={"api_endpoint": endpoint},
                    static_discovery=True)
    gcs = storage.Client(project=PROJECT, credentials=creds,
                         client_options={"api_endpoint": service.storage_endpoint})
    return ml, logging, gcs


def _body(job_id: str, uri: str, hyperparameters: dict[str, Any] | None = None) -> dict[str, Any]:
    training: dict[str, Any] = {"scaleTier": "BASIC", "region": "us-central1", "packageUris": [uri],
                                "pythonModule": "benchtrainer.task"}
    if hyperparameters:
        training["hyperparameters"] = hyperparameters
    return {"jobId": job_id, "trainingInput": training}


def _wait(ml: Any, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(job_ids):
        for job_id in job_ids:
            if job_id not in done:
                job = ml.projects().jobs().get(name=f"projects/{PROJECT}/jobs/{job_id}").execute()
                if job["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                    if job["state"] != "SUCCEEDED":
                        raise RuntimeError(f"{job_id}: {job['state']} {job.get('errorMessage')}")
                    done[job_id] = job
        time.sleep(0.02)
    return done


def _trainer_times(logging: Any, job_id: str) -> dict[str | None, tuple[float, float]]:
    """{trial_id (None for a plain job): (trainer start, trainer end)} from the trainer's own log line."""
    times: dict[str | None, tuple[float, float]] = {}
    token = None
    while True:
        body: dict[str, Any] = {"resourceNames": [f"projects/{PROJECT}"],
                                "filter": f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"'}
        if token:
            body["pageToken"] = token
        page = logging.entries().list(body=body).execute()
        for entry in page.get("entries", []):
            message = entry["jsonPayload"]["message"]
            if message.startswith('{"bench_t0"'):
                data = json.loads(message)
                times[entry["labels"].get("trial_id")] = (data["bench_t0"], data["bench_t1"])
        token = page.get("nextPageToken")
        if not token:
            return times


def measure() -> dict[str, float]:
    """Run the three measurements against one fresh service; every figure is a median unless named rate."""
    with tempfile.TemporaryDirectory(prefix="trainjobs-bench-") as tmp:
        work = Path(tmp)
        sdist = _sdist(work)
        with serving(work / "data", "--max-concurrent-jobs", "2") as service:
            ml, logging, gcs = _clients(service)
            gcs.create_bucket("bench")
            gcs.bucket("bench").blob(f"pkg/{sdist.name}").upload_from_filename(str(sdist))
            uri = f"gs://bench/pkg/{sdist.name}"
            ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=_body("warmup", uri)).execute()
            _wait(ml, ["warmup"])  # the first install of the package is excluded from the figures

            queued, running, spawn, settle = [], [], [], []
            for i in range(OVERHEAD_JOBS):
                job_id = f"overhead_{i}"
                ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=_body(job_id, uri)).execute()
                job = _wait(ml, [job_id])[job_id]
                t0, t1 = _trainer_times(logging, job_id)[None]
                queued.append(_ts(job["startTime"]) - _ts(job["createTime"]))
                spawn.append(t0 - _ts(job["startTime"]))
                running.append(t1 - t0)
                settle.append(_ts(job["endTime"]) - t1)

            ids = [f"rate_{i}" for i in range(THROUGHPUT_JOBS)]
            start = time.monotonic()
            for job_id in ids:
                ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=_body(job_id, uri)).execute()
            _wait(ml, ids)
            rate = THROUGHPUT_JOBS / ((time.monotonic() - start) / 60.0)

            spec = {"algorithm": "RANDOM_SEARCH", "maxTrials": TRIALS, "maxParallelTrials": 1,
                    "params": [{"parameterName": "lr", "type": "DOUBLE", "minValue": 0.001, "maxValue": 0.1}]}
            ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=_body("trials", uri, spec)).execute()
            job = _wait(ml, ["trials"])["trials"]
            own = _trainer_times(logging, "trials")
            per_trial = [
                (_ts(t["endTime"]) - _ts(t["startTime"])) - (own[t["trialId"]][1] - own[t["trialId"]][0])
                for t in job["trainingOutput"]["trials"]
            ]
    return {
        "jobs_per_minute": rate,
        "create_to_running": statistics.median(queued),
        "running_to_trainer_start": statistics.median(spawn),
        "trainer_runtime": statistics.median(running),
        "trainer_exit_to_succeeded": statistics.median(settle),
        "per_trial_overhead": statistics.median(per_trial),
    }


def run() -> str:
    """The markdown section for docs/benchmarks.md."""
    m = measure()
    service_overhead = m["create_to_running"] + m["trainer_exit_to_succeeded"]
    job_ok = "met" if service_overhead < GOAL_JOB_S else "missed"
    trial_ok = "met" if m["per_trial_overhead"] < GOAL_TRIAL_S else "missed"
    return "\n".join([
        "## Local service (`trainjobs-local`)",
        "",
        f"A trivial trainer (an sdist of one module) through the real ml v1 client; `--max-concurrent-jobs 2`;"
        f" medians of {OVERHEAD_JOBS} sequential jobs after the first install, {THROUGHPUT_JOBS} jobs submitted"
        f" at once for the rate, one tuning job of {TRIALS} sequential trials.",
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| jobs per minute (20 queued, 2 at a time) | {m['jobs_per_minute']:.0f} | |",
        f"| create → RUNNING (validate, queue, fetch + cached install) | {m['create_to_running']:.3f} s | |",
        f"| trainer exit → SUCCEEDED | {m['trainer_exit_to_succeeded']:.3f} s | |",
        f"| **service overhead per job** (the two above) | **{service_overhead:.3f} s** | < {GOAL_JOB_S} s ({job_ok}) |",
        f"| RUNNING → trainer's first line (process start, interpreter startup) | "
        f"{m['running_to_trainer_start']:.3f} s | |",
        f"| trainer's own runtime | {m['trainer_runtime']:.3f} s | |",
        f"| **per-trial overhead** (trial wall time − trainer runtime) | **{m['per_trial_overhead']:.3f} s** |"
        f" < {GOAL_TRIAL_S} s ({trial_ok}) |",
        "",
    ])


if __name__ == "__main__":
    print(run())
