"""The example trainer application (dags_examples/trainer_app) run for real against the storage emulator."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_provider_trainjobs.local.tuning import read_hypertune_metrics

TRAINER_APP = Path(__file__).resolve().parent.parent / "dags_examples" / "trainer_app"


@contextmanager
def trainer_util() -> Iterator[ModuleType]:
    """Import the example's ``trainer.util`` and forget the generic ``trainer`` package afterwards."""
    sys.path.insert(0, str(TRAINER_APP))
    try:
        yield importlib.import_module("trainer.util")
    finally:
        sys.path.remove(str(TRAINER_APP))
        for name in [n for n in sys.modules if n == "trainer" or n.startswith("trainer.")]:
            del sys.modules[name]


@pytest.fixture
def bucket(storage_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket in the emulator, with the trainer's dataset uploaded by its own helper."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_emulator)
    monkeypatch.setenv("CLOUD_ML_PROJECT_ID", "local-project")
    client = storage.Client(project="local-project", credentials=AnonymousCredentials())
    name = f"trainer-{uuid.uuid4().hex[:10]}"
    client.create_bucket(name)
    with trainer_util() as util:
        util.upload_dataset(f"gs://{name}/data/train.csv")
    return name


def _run(bucket: str, storage_emulator: str, tmp_path: Path, job: str, *args: str,
         env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], Path]:
    metrics = tmp_path / f"{job}-{uuid.uuid4().hex[:6]}.metrics"
    full_env = {
        **os.environ,
        "STORAGE_EMULATOR_HOST": storage_emulator,
        "CLOUD_ML_PROJECT_ID": "local-project",
        "CLOUD_ML_HP_METRIC_FILE": str(metrics),
        **(env or {}),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "trainer.task", "--train-data", f"gs://{bucket}/data/train.csv",
         "--job-dir", f"gs://{bucket}/jobs/{job}", *args],
        cwd=TRAINER_APP, env=full_env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc, metrics


def _blobs(bucket: str, prefix: str) -> dict[str, bytes]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="local-project", credentials=AnonymousCredentials())
    return {b.name: b.download_as_bytes() for b in client.list_blobs(bucket, prefix=prefix)}


def test_dataset_is_deterministic_and_not_linearly_trivial() -> None:
    with trainer_util() as util:
        assert util.dataset_csv(50, seed=3) == util.dataset_csv(50, seed=3)
        assert util.dataset_csv(50, seed=3) != util.dataset_csv(50, seed=4)
        x, y = util.make_dataset(400)
    assert x.shape == (400, 4) and set(y) == {0.0, 1.0}


def test_trainer_learns_and_writes_model_and_metrics(bucket: str, storage_emulator: str, tmp_path: Path) -> None:
    good, good_metrics = _run(bucket, storage_emulator, tmp_path, "good", "--learning-rate=0.5")
    bad, bad_metrics = _run(bucket, storage_emulator, tmp_path, "bad", "--learning-rate=0.001")

    good_values = [m.value for m in read_hypertune_metrics(good_metrics, "accuracy")]
    bad_values = [m.value for m in read_hypertune_metrics(bad_metrics, "accuracy")]
    assert len(good_values) == len(bad_values) == 20  # one report per epoch
    assert [m.step for m in read_hypertune_metrics(good_metrics, "accuracy")] == list(range(1, 21))
    assert good_values[-1] > 0.9
    assert bad_values[-1] < 0.7
    assert good_values[-1] > good_values[0]  # it learned during the run

    written = _blobs(bucket, "jobs/good/")
    assert "jobs/good/model/model.npz" in written
    assert written["jobs/good/model/model.npz"][:2] == b"PK"  # an npz is a zip
    summary = json.loads(written["jobs/good/model/metrics.json"])
    assert summary["accuracy"] == pytest.approx(good_values[-1])
    assert summary["learning_rate"] == 0.5
    assert sorted(n for n in written if "/checkpoints/" in n) == [
        f"jobs/good/checkpoints/ckpt-{e:06d}.npz" for e in (5, 10, 15, 20)
    ]


def test_trainer_resumes_from_its_last_checkpoint(bucket: str, storage_emulator: str, tmp_path: Path) -> None:
    first, first_metrics = _run(bucket, storage_emulator, tmp_path, "resume", "--num-epochs=6",
                                "--checkpoint-every=3")
    assert "starting from scratch" in first.stdout
    assert sum(line.startswith("epoch ") for line in first.stdout.splitlines()) == 6

    second, metrics = _run(bucket, storage_emulator, tmp_path, "resume", "--num-epochs=10", "--checkpoint-every=3")
    assert f"Resuming from checkpoint gs://{bucket}/jobs/resume/checkpoints/ckpt-000006.npz (epoch 6)" in second.stdout
    epochs_run = [line for line in second.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs_run] == ["7/10", "8/10", "9/10", "10/10"]
    assert [m.step for m in read_hypertune_metrics(metrics, "accuracy")] == [7, 8, 9, 10]
    # Resumed training continues from the saved weights: accuracy does not fall back to the start.
    first_acc = read_hypertune_metrics(first_metrics, "accuracy")[-1].value
    assert read_hypertune_metrics(metrics, "accuracy")[0].value >= first_acc - 0.05


def test_tuning_trial_and_vertex_output_locations(bucket: str, storage_emulator: str, tmp_path: Path) -> None:
    _run(bucket, storage_emulator, tmp_path, "tune", "--num-epochs=2", env={"CLOUD_ML_TRIAL_ID": "3"})
    assert "jobs/tune/3/model/model.npz" in _blobs(bucket, "jobs/tune/3/")

    vertex_env = {
        "AIP_MODEL_DIR": f"gs://{bucket}/vertex/model/",
        "AIP_CHECKPOINT_DIR": f"gs://{bucket}/vertex/checkpoints/",
    }
    _run(bucket, storage_emulator, tmp_path, "ignored", "--num-epochs=2", env=vertex_env)
    written = _blobs(bucket, "vertex/")
    assert {"vertex/model/model.npz", "vertex/model/metrics.json", "vertex/checkpoints/ckpt-000002.npz"} <= set(written)


def test_grid_tuning_through_the_local_service_finds_the_good_learning_rate(
    local_service: Any, tmp_path: Path
) -> None:
    """The service runs the packaged trainer as trials; the metric it reads responds to the learning rate."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from googleapiclient.discovery import build

    from airflow_provider_trainjobs.packaging import build_training_package

    client = storage.Client(project=local_service.project, credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": local_service.storage_endpoint})
    bucket = f"trainer-e2e-{uuid.uuid4().hex[:10]}"
    client.create_bucket(bucket)
    client.bucket(bucket).blob("data/train.csv").upload_from_string(_dataset_csv())
    package = build_training_package(TRAINER_APP / "trainer", tmp_path / "dist")
    client.bucket(bucket).blob(f"packages/{package.path.name}").upload_from_filename(str(package.path))

    ml = build("ml", "v1", credentials=AnonymousCredentials(), static_discovery=True, cache_discovery=False,
               client_options={"api_endpoint": local_service.api_endpoint})
    job_id = f"trainer_grid_{uuid.uuid4().hex[:8]}"
    body = {
        "jobId": job_id,
        "trainingInput": {
            "scaleTier": "BASIC",
            "region": "us-central1",
            "packageUris": [f"gs://{bucket}/packages/{package.path.name}"],
            "pythonModule": "trainer.task",
            "jobDir": f"gs://{bucket}/jobs/{job_id}",
            "args": ["--train-data", f"gs://{bucket}/data/train.csv", "--num-epochs=10"],
            "hyperparameters": {
                "goal": "MAXIMIZE",
                "hyperparameterMetricTag": "accuracy",
                "algorithm": "GRID_SEARCH",
                "maxTrials": 2,
                "maxParallelTrials": 2,
                "params": [{"parameterName": "learning-rate", "type": "DISCRETE", "discreteValues": [0.001, 1.0]}],
            },
        },
    }
    name = f"projects/{local_service.project}/jobs/{job_id}"
    ml.projects().jobs().create(parent=f"projects/{local_service.project}", body=body).execute()
    job = _wait_terminal(ml, name)

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    trials = {t["hyperparameters"]["learning-rate"]: t for t in job["trainingOutput"]["trials"]}
    assert set(trials) == {"0.001", "1"}
    good, bad = (float(trials[k]["finalMetric"]["objectiveValue"]) for k in ("1", "0.001"))
    assert good > 0.9 > 0.7 > bad
    assert trials["1"]["finalMetric"]["trainingStep"] == "10"
    # Each trial wrote its own model under <job-dir>/<trial>/.
    names = {b.name for b in client.list_blobs(bucket, prefix=f"jobs/{job_id}/")}
    for trial in trials.values():
        assert f"jobs/{job_id}/{trial['trialId']}/model/model.npz" in names


def _dataset_csv() -> str:
    with trainer_util() as util:
        return str(util.dataset_csv())


def _wait_terminal(ml: Any, name: str) -> dict[str, Any]:
    """Poll until the job is terminal (a hang guard, not a timed assertion)."""
    for _ in range(1200):
        job: dict[str, Any] = ml.projects().jobs().get(name=name).execute()
        if job["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"{name} did not finish: {job}")
