"""The example retraining DAG, run the way Airflow 3 creates runs from ``airflow dags trigger`` or the REST
API: no logical date, only ``run_after``, in a fresh Airflow home.

One Airflow database migration and one DAG run (each airflow process pays its start-up), against the
session's local service; the assertions read the service and the storage emulator, not the log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from airflow_provider_trainjobs.hooks.training import TrainingJobHook

REPO = Path(__file__).resolve().parent.parent.parent

pytestmark = pytest.mark.timeout(240)
STAMP = "20250106T093000"  # run_after of the e2e run, as the DAG's templates render it


def test_retraining_dag_without_a_logical_date_tunes_then_trains_the_final_model(
    local_conn: Any, tmp_path: Path
) -> None:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags_examples"),
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT=local_conn.conn_json(),
    )
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=180)
    conf = {"bucket": "e2e-retraining", "samples": 300, "epochs": 4}
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "dag_test.py"), "retraining",
                          "--run-after", "2025-01-06T09:30:00+00:00", "-c", json.dumps(conf)],
                         env=env, capture_output=True, text=True, timeout=200)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "logical_date=None" in run.stdout  # the run really had no logical date

    jobs = [j for j in TrainingJobHook().list_jobs() if (j.get("labels") or {}).get("airflow_dag_id") == "retraining"]
    by_task = {j["labels"]["airflow_task_id"]: j for j in jobs}
    assert set(by_task) == {"tune", "train_final"}
    tune, final = by_task["tune"], by_task["train_final"]
    assert tune["state"] == "SUCCEEDED" and final["state"] == "SUCCEEDED"

    trials = tune["trainingOutput"]["trials"]
    assert len(trials) == 6
    best = max((t for t in trials if t.get("state") == "SUCCEEDED"),
               key=lambda t: float(t["finalMetric"]["objectiveValue"]))
    args = final["trainingInput"]["args"]
    # the best trial's values were templated into the final job's arguments
    assert f"--learning_rate={best['hyperparameters']['learning_rate']}" in args  # XCom best_trial_args
    assert f"--hidden_units={best['hyperparameters']['hidden_units']}" in args
    assert "--num-epochs=4" in args
    assert f"Best trial {best['trialId']}:" in run.stdout

    # paths come from run_after (2025-01-06T09:30:00), never "None"
    assert f"--train-data=gs://e2e-retraining/data/{STAMP}/train.csv" in args
    model_uri = f"{final['trainingInput']['jobDir']}/model/model.npz"
    assert model_uri == f"gs://e2e-retraining/runs/{STAMP}/final/model/model.npz"
    assert tune["trainingInput"]["jobDir"] == f"gs://e2e-retraining/runs/{STAMP}/tune"
    client = storage.Client(project="local-project", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": local_conn.storage_endpoint})
    bucket = client.bucket("e2e-retraining")
    blob = bucket.get_blob(f"runs/{STAMP}/final/model/model.npz")
    assert blob is not None and blob.size and blob.size > 0
    assert not [b.name for b in client.list_blobs(bucket) if "None" in b.name]


def test_example_dag_parses_without_heavy_imports() -> None:
    """The scheduler parses the DAG file often: no import errors, no Google clients/setuptools/optuna loaded."""
    code = (
        "import sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag({str(REPO / 'dags_examples')!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "dag = bag.dags['retraining']\n"
        "print('TASKS=' + ','.join(sorted(dag.task_ids)))\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('googleapiclient', 'setuptools', 'optuna')"
        " or m.startswith('google.cloud')]\n"
        "print('HEAVY=' + ','.join(sorted(heavy)))\n"
    )
    env = {**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(ln.split("=", 1) for ln in out.stdout.splitlines() if ln.startswith(("TASKS=", "HEAVY=")))
    assert lines["TASKS"] == "package,prepare_data,report,train_final,tune"
    assert lines["HEAVY"] == "", f"heavy modules imported while parsing the DAG: {lines['HEAVY']}"


@pytest.mark.parametrize("best_trial", [None, {"trialId": "4", "hyperparameters": {"learning_rate": "0.1"},
                                              "finalMetric": {"objectiveValue": 0.9}}])
def test_report_handles_a_run_without_a_best_trial(best_trial: dict[str, Any] | None,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    from support import RecordingTI

    spec = importlib.util.spec_from_file_location("retraining_dag", REPO / "dags_examples" / "retraining_dag.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ti = RecordingTI({("tune", "best_trial"): best_trial})
    final_job = {"jobId": "final_1", "state": "SUCCEEDED", "trainingInput": {"jobDir": "gs://b/runs/1/final"}}

    summary = module.dag.get_task("report").python_callable(final_job, ti=ti)

    assert summary["best_trial"] == best_trial and summary["model_uri"] == "gs://b/runs/1/final/model/model.npz"
    out = capsys.readouterr().out
    assert ("No best trial" in out) == (best_trial is None)
    assert "Final model (final_1, SUCCEEDED): gs://b/runs/1/final/model/model.npz" in out
