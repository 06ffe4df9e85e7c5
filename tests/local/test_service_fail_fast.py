"""Tuning jobs whose trials keep failing stop early when maxFailedTrials leaves it to the service (issue 11.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import ml_client, unique, upload, wait_for
from support.trainers import trainer_sdist

from airflow_provider_trainjobs.local.trials import FAIL_FAST_TRIALS

PROJECT = "local-project"
PARAMS = [{"parameterName": "x", "type": "INTEGER", "minValue": 1, "maxValue": 30}]


@pytest.fixture(scope="module")
def broken_import_sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trainer with one wrong import line: every trial fails before it does anything."""
    return trainer_sdist(tmp_path_factory.mktemp("broken"), "brokenimport",
                         "import no_such_module_for_trainjobs  # noqa\n")


def _run(service: Any, sdist: Path, **spec: Any) -> dict[str, Any]:
    ml = ml_client(service.api_endpoint)
    job_id = unique("failfast")
    body = {"jobId": job_id, "trainingInput": {
        "scaleTier": "BASIC", "region": "us-central1", "pythonModule": "trainer.task",
        "packageUris": [upload(service.storage_endpoint, sdist)],
        "hyperparameters": {"algorithm": "GRID_SEARCH", "maxTrials": 30, "maxParallelTrials": 1,
                            "params": PARAMS, **spec}}}
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    return wait_for(ml, PROJECT, job_id, limit=120)


@pytest.mark.parametrize("unset", [{}, {"maxFailedTrials": 0}])
def test_a_trainer_failing_at_import_stops_after_three_trials(local_service: Any, broken_import_sdist: Path,
                                                             unset: dict[str, Any]) -> None:
    job = _run(local_service, broken_import_sdist, **unset)

    assert job["state"] == "FAILED"
    trials = job["trainingOutput"]["trials"]
    assert [t["state"] for t in trials] == ["FAILED"] * FAIL_FAST_TRIALS  # not all 30
    message = job["errorMessage"]
    assert message.startswith(f"The first {FAIL_FAST_TRIALS} trials failed and none succeeded")
    assert "First failure: trial 1:" in message and "no_such_module_for_trainjobs" in message


def test_an_explicit_max_failed_trials_keeps_its_meaning(local_service: Any, broken_import_sdist: Path) -> None:
    job = _run(local_service, broken_import_sdist, maxFailedTrials=5)

    assert job["state"] == "FAILED"
    assert len(job["trainingOutput"]["trials"]) == 5
    assert "reaching trainingInput.hyperparameters.maxFailedTrials (5)" in job["errorMessage"]


def test_failures_after_a_success_do_not_stop_the_job(local_service: Any, tmp_path: Path) -> None:
    only_one = trainer_sdist(tmp_path, "onlyone", "import sys\nsys.exit(0 if '--x=1' in sys.argv else 3)\n")
    job = _run(local_service, only_one, maxTrials=4,
               params=[{"parameterName": "x", "type": "DISCRETE", "discreteValues": [1, 2, 3, 4]}])

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    assert [t["state"] for t in job["trainingOutput"]["trials"]] == ["SUCCEEDED"] + ["FAILED"] * 3
