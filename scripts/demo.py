"""``make demo``: run the example retraining DAG end to end against the embedded local service.

Creates a fresh Airflow home under ``.demo/`` (gitignored), migrates its database, starts
``trainjobs-local`` on free ports, points ``google_cloud_default`` at it, runs ``airflow dags test retraining``,
prints what happened (jobs, best trial, where the model landed, console pages) and stops the service.
Exits non-zero unless the final training job SUCCEEDED and its model file exists.

    .venv/bin/python scripts/demo.py [--backend ai-platform|vertex] [--date 2025-01-06] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / ".demo"
DAG_ID = "retraining"
PROJECT = "local-project"
BUCKET = "trainjobs-demo"


def free_port() -> int:
    """A port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Wait until ``url`` answers 200, failing early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the local service exited with {proc.returncode}; see {DEMO_DIR / 'service.log'}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the local service did not answer {url} within {timeout:.0f}s")


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def airflow_env(home: Path) -> dict[str, str]:
    """The environment every ``airflow`` command of the demo runs with."""
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags_examples"),
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
    )
    return env


def start_service(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """Start ``python -m airflow_provider_trainjobs.local serve`` on free ports; returns (proc, api, storage)."""
    port, storage_port = free_port(), free_port()
    log = open(DEMO_DIR / "service.log", "ab")  # noqa: SIM115 - held by the child process
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_trainjobs.local", "serve", "--data-dir", str(data_dir),
         "--port", str(port), "--storage-port", str(storage_port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}"
    wait_http(f"{api}/healthz", proc)
    return proc, api, f"http://127.0.0.1:{storage_port}"


def serves_vertex(api: str) -> bool:
    """True when the service answers the aiplatform v1 customJobs route."""
    url = f"{api}/v1/projects/{PROJECT}/locations/us-central1/customJobs"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return bool(resp.status == 200)
    except (urllib.error.HTTPError, OSError):
        return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def seconds_between(start: str | None, end: str | None) -> str:
    if not start or not end:
        return "-"
    from airflow_provider_trainjobs.spec.waiting import parse_time

    return f"{(parse_time(end) - parse_time(start)).total_seconds():.1f}s"


def summarise(api: str, storage: str) -> bool:
    """Print the run's jobs, best trial, model location and pages; True when the final job SUCCEEDED."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs

    from airflow_provider_trainjobs.hooks.training import TrainingJobHook
    from airflow_provider_trainjobs.operators._common import best_trial_summary

    hook = TrainingJobHook()
    jobs = [j for j in hook.list_jobs() if (j.get("labels") or {}).get("airflow_dag_id") == DAG_ID]
    jobs.sort(key=lambda j: j.get("createTime") or "")
    print(f"\n{'job id':<72} {'state':<10} {'queued':>8} {'ran':>8}")
    for job in jobs:
        print(f"{job['jobId']:<72} {job.get('state', '?'):<10} "
              f"{seconds_between(job.get('createTime'), job.get('startTime')):>8} "
              f"{seconds_between(job.get('startTime'), job.get('endTime')):>8}")
    by_task = {(j.get("labels") or {}).get("airflow_task_id"): j for j in jobs}
    tune, final = by_task.get("tune"), by_task.get("train_final")
    if tune:
        output = tune.get("trainingOutput") or {}
        best = best_trial_summary(tune)
        print(f"\ntuning: {output.get('completedTrialCount', 0)} trials completed")
        if best:
            print(f"best trial {best['trialId']}: {best['hyperparameters']} "
                  f"{output.get('hyperparameterMetricTag', 'metric')}={best['finalMetric'].get('objectiveValue')}")
    ok = bool(final and final.get("state") == "SUCCEEDED")
    if final:
        model_uri = f"{final['trainingInput']['jobDir']}/model/model.npz"
        bucket, _, name = model_uri[len("gs://"):].partition("/")
        client = gcs.Client(project=PROJECT, credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": storage})
        blob = client.bucket(bucket).get_blob(name)
        exists = blob is not None
        size = f"{blob.size} bytes" if blob is not None else "MISSING"
        print(f"\nfinal model: {model_uri} ({size})")
        ok = ok and exists
    else:
        print("\nno final training job was created")
    print("\nconsole pages:")
    for job in jobs:
        print(f"  {hook.console_url(job['jobId'], job)}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("ai-platform", "vertex"), default="ai-platform")
    parser.add_argument("--date", default="2025-01-06", help="logical date of the DAG run")
    parser.add_argument("--keep", action="store_true", help="keep the service running until Enter is pressed")
    args = parser.parse_args(argv)

    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    home = DEMO_DIR / "airflow"
    env = airflow_env(home)
    airflow = [sys.executable, "-m", "airflow"]

    step(f"airflow db migrate (AIRFLOW_HOME={home.relative_to(ROOT)})")
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)

    step("starting the local training service (trainjobs-local)")
    proc, api, storage = start_service(DEMO_DIR / "service")
    try:
        print(f"API {api}   Cloud Storage {storage}   log {(DEMO_DIR / 'service.log').relative_to(ROOT)}")
        if args.backend == "vertex" and not serves_vertex(api):
            print("this build of the local service does not serve the Vertex AI routes yet; "
                  "run the demo with --backend ai-platform", file=sys.stderr)
            return 2
        extras = {"project": PROJECT, "backend": args.backend, "region": "us-central1", "api_endpoint": api,
                  "storage_endpoint": storage, "logging_endpoint": api}
        conn = json.dumps({"conn_type": "trainjobs", "extra": extras})
        env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = conn
        os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = conn  # for the summary's own hook

        step(f"airflow dags test {DAG_ID} {args.date}  (package -> tune -> train -> report, deferrable)")
        started = datetime.now()
        run = subprocess.run([*airflow, "dags", "test", DAG_ID, args.date], env=env)
        print(f"\n`airflow dags test` exited with {run.returncode} after "
              f"{(datetime.now() - started).total_seconds():.0f}s")

        step("summary")
        ok = summarise(api, storage) and run.returncode == 0
        print(f"\nfinal job SUCCEEDED: {'yes' if ok else 'NO'}")
        if args.keep:
            input("\nservice still running (open the console pages above); press Enter to stop it ")
        return 0 if ok else 1
    finally:
        stop(proc)


if __name__ == "__main__":
    sys.exit(main())
