"""``make demo``: run the example retraining DAG end to end against the embedded local service.

Creates a fresh Airflow home under ``.demo/`` (gitignored), migrates its database, starts
``trainjobs-local`` on free ports, points ``google_cloud_default`` at it, runs one ``retraining`` DAG run
with no logical date (as ``airflow dags trigger`` and the REST API create them; ``scripts/dag_test.py``), prints what happened (jobs, best trial, where the model landed, console pages) and stops the service.
Exits non-zero unless the final training job SUCCEEDED and its model file exists.

    .venv/bin/python scripts/demo.py [--backend ai-platform|vertex] [--run-after 2025-01-06T09:30:00] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from airflow_provider_trainjobs.local.launcher import LOCAL_PROJECT, serving

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / ".demo"
DAG_ID = "retraining"
PROJECT = LOCAL_PROJECT
BUCKET = "trainjobs-demo"


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
        PYTHONWARNINGS="ignore",  # e.g. the graphviz notice `airflow dags test` prints; unrelated to the demo
    )
    return env


# structlog lines: "<timestamp> [level    ] message [logger] key=value ..."
_LOG_LINE = re.compile(r"^\S+Z \[(?P<level>\w+)\s*\] (?P<message>.*?) \[(?P<logger>[\w.]+)\]")
_TRAINER_CHATTER = re.compile(r"\] (epoch \d+/\d+ |Saved checkpoint )")


def _shown(line: str) -> str | None:
    """What the demo prints of one line of the DAG run (the full output goes to the log file)."""
    match = _LOG_LINE.match(line)
    if match is None:
        return line.rstrip()  # the tasks' own prints
    message, logger, level = match["message"], match["logger"], match["level"]
    if message.startswith("[DAG TEST] starting task_id="):
        return f"\n--- task {message.split('=')[1].split()[0]}"
    if _TRAINER_CHATTER.search(line):
        return None
    if "airflow_provider_trainjobs" in logger or level in ("error", "critical"):
        return f"    {message}"
    return None


def run_dags_test(command: list[str], env: dict[str, str], log_path: Path) -> int:
    """Run the DAG run (``dag.test``), keeping its whole output in ``log_path`` and printing the story of the run."""
    print(f"(full output: {log_path.relative_to(ROOT)}; per-epoch trainer lines are left out here)")
    with open(log_path, "w") as log, subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            shown = _shown(line)
            if shown:
                print(shown, flush=True)
    return proc.returncode


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
    parser.add_argument("--run-after", default=None,
                        help="the run's run_after, ISO 8601 (default: now); the run has no logical date")
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
    with serving(DEMO_DIR / "service", log_path=DEMO_DIR / "service.log") as service:
        api, storage = service.api_endpoint, service.storage_endpoint
        print(f"API {api}   Cloud Storage {storage}   log {(DEMO_DIR / 'service.log').relative_to(ROOT)}")
        conn = service.conn_json(args.backend)
        env["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = conn
        os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = conn  # for the summary's own hook

        command = [sys.executable, str(ROOT / "scripts" / "dag_test.py"), DAG_ID]
        if args.run_after:
            command += ["--run-after", args.run_after]
        step(f"one {DAG_ID} run, no logical date  (package -> tune -> train -> report, deferrable)")
        started = datetime.now()
        returncode = run_dags_test(command, env, DEMO_DIR / "dags-test.log")
        print(f"\nthe DAG run exited with {returncode} after "
              f"{(datetime.now() - started).total_seconds():.0f}s")

        step("summary")
        ok = summarise(api, storage) and returncode == 0
        print(f"\nfinal job SUCCEEDED: {'yes' if ok else 'NO'}")
        if args.keep:
            input("\nservice still running (open the console pages above); press Enter to stop it ")
        return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
