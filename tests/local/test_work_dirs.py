"""Job work dirs (issue 10, item 3): removed when a job ends, kept with ``--keep-work-dirs``, and cleaned up
when a restarted service settles the jobs a crash left behind."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from support import (
    ml_client,
    processes_gone,
    start_sleeping,
    tiny_job,
    unique,
    upload,
    wait_for,
)

from airflow_provider_trainjobs.local.launcher import serving, start_service

PROJECT = "local-project"


def _work(service: Any, job_id: str) -> Path:
    return Path(service.data_dir) / "work" / PROJECT / job_id


def _finish(service: Any, sdist: Path, body_of: Any) -> tuple[dict[str, Any], Path]:
    ml = ml_client(service.api_endpoint)
    job_id = unique("workdir")
    ml.projects().jobs().create(parent=f"projects/{PROJECT}",
                                body=body_of(job_id, upload(service.storage_endpoint, sdist))).execute()
    return wait_for(ml, PROJECT, job_id), _work(service, job_id)


def test_work_dirs_go_when_jobs_end_whatever_the_outcome(local_service: Any, trainer_sdist: Path) -> None:
    succeeded, succeeded_dir = _finish(local_service, trainer_sdist, lambda i, uri: tiny_job(i, uri))
    failed, failed_dir = _finish(local_service, trainer_sdist, lambda i, uri: tiny_job(i, uri, exit_code=3))
    tuning, tuning_dir = _finish(local_service, trainer_sdist, lambda i, uri: tiny_job(i, uri, hyperparameters={
        "goal": "MAXIMIZE", "hyperparameterMetricTag": "accuracy", "maxTrials": 2, "maxParallelTrials": 2,
        "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0.0, "maxValue": 1.0}]}))

    assert (succeeded["state"], failed["state"], tuning["state"]) == ("SUCCEEDED", "FAILED", "SUCCEEDED")
    assert tuning["trainingOutput"]["completedTrialCount"] == "2"  # the trials ran in that dir to the end
    assert not succeeded_dir.exists() and not failed_dir.exists() and not tuning_dir.exists()
    assert succeeded_dir.parent.is_dir()


def test_keep_work_dirs_keeps_them(tmp_path: Path, trainer_sdist: Path) -> None:
    with serving(tmp_path / "data", "--keep-work-dirs") as service:
        job, work = _finish(service, trainer_sdist, lambda i, uri: tiny_job(i, uri))
    assert job["state"] == "SUCCEEDED"
    assert (work / "run").is_dir()


def test_a_restart_removes_the_work_dir_of_a_job_a_crash_interrupted(tmp_path: Path, trainer_sdist: Path) -> None:
    data_dir, pid_file = tmp_path / "data", tmp_path / "pids.json"
    service = start_service(data_dir)
    try:
        ml = ml_client(service.api_endpoint)
        job_id = unique("crashed")
        pids = start_sleeping(ml, PROJECT, job_id, upload(service.storage_endpoint, trainer_sdist), pid_file)
        work = _work(service, job_id)
        assert work.is_dir()
    finally:
        service.proc.send_signal(signal.SIGKILL)  # a crash: the trainer and its work dir are left behind
        service.proc.wait()
    time.sleep(0.2)

    with serving(data_dir) as restarted:
        job = ml_client(restarted.api_endpoint).projects().jobs().get(
            name=f"projects/{PROJECT}/jobs/{job_id}").execute()
        assert job["state"] == "FAILED" and "not resumed after a restart" in job["errorMessage"]
        assert processes_gone(pids)
        assert not work.exists()
