"""Restart of the service with jobs in every state: records survive, running jobs are failed, queued ones run."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from support import (
    logging_client,
    make_job,
    make_sdist,
    ml_client,
    process_alive,
    processes_gone,
    slow_build_prelude,
    start_sleeping,
    unique,
    upload,
    wait_for,
    wait_for_file,
)

from airflow_provider_trainjobs.local.launcher import serving, start_service
from airflow_provider_trainjobs.local.store import Store

PROJECT = "local-project"


def test_restart_after_crash_keeps_every_job(tmp_path: Path, trainer_sdist: Path) -> None:
    data_dir = tmp_path / "data"
    service = start_service(data_dir, "--max-concurrent-jobs", "1")
    try:
        ml = ml_client(service.api_endpoint)
        uri = upload(service.storage_endpoint, trainer_sdist)
        ids = {state: unique(state.lower()) for state in ("SUCCEEDED", "FAILED", "CANCELLED", "RUNNING", "QUEUED")}
        jobs_dir = "gs://trainjobs-tests/jobs"
        ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=make_job(
            ids["SUCCEEDED"], uri, ["--mode", "succeed"], jobDir=f"{jobs_dir}/{ids['SUCCEEDED']}")).execute()
        wait_for(ml, PROJECT, ids["SUCCEEDED"])
        ml.projects().jobs().create(parent=f"projects/{PROJECT}",
                                    body=make_job(ids["FAILED"], uri, ["--mode", "fail"])).execute()
        wait_for(ml, PROJECT, ids["FAILED"])
        ml.projects().jobs().create(parent=f"projects/{PROJECT}",
                                    body=make_job(ids["CANCELLED"], uri, ["--mode", "sleep"])).execute()
        wait_for(ml, PROJECT, ids["CANCELLED"], lambda j: j["state"] == "RUNNING")
        ml.projects().jobs().cancel(name=f"projects/{PROJECT}/jobs/{ids['CANCELLED']}", body={}).execute()
        wait_for(ml, PROJECT, ids["CANCELLED"])
        pid_file = tmp_path / "pids.json"
        pids = start_sleeping(ml, PROJECT, ids["RUNNING"], uri, pid_file)
        ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=make_job(
            ids["QUEUED"], uri, ["--mode", "succeed"], jobDir=f"{jobs_dir}/{ids['QUEUED']}")).execute()
        before = {state: ml.projects().jobs().get(name=f"projects/{PROJECT}/jobs/{job_id}").execute()
                  for state, job_id in ids.items()}
        assert {s: j["state"] for s, j in before.items()} == {s: s for s in ids}
    finally:
        service.proc.send_signal(signal.SIGKILL)  # a crash: the trainers are left behind
        service.proc.wait()
    time.sleep(0.2)

    service = start_service(data_dir, "--max-concurrent-jobs", "1")
    try:
        ml = ml_client(service.api_endpoint)
        for state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            assert ml.projects().jobs().get(name=f"projects/{PROJECT}/jobs/{ids[state]}").execute() == before[state]
        crashed = ml.projects().jobs().get(name=f"projects/{PROJECT}/jobs/{ids['RUNNING']}").execute()
        assert crashed["state"] == "FAILED" and "not resumed after a restart" in crashed["errorMessage"]
        assert processes_gone(pids), "the restarted service must kill trainers a crash left behind"
        resumed = wait_for(ml, PROJECT, ids["QUEUED"])
        assert resumed["state"] == "SUCCEEDED", resumed.get("errorMessage")
        entries = logging_client(service.api_endpoint).entries().list(body={
            "resourceNames": [f"projects/{PROJECT}"],
            "filter": f'resource.type="ml_job" AND resource.labels.job_id="{ids["SUCCEEDED"]}"'}).execute()
        assert "model written" in json.dumps(entries)
    finally:
        service.proc.terminate()
        service.proc.wait(timeout=30)


def test_restart_settles_jobs_that_were_preparing_or_cancelling(tmp_path: Path, trainer_sdist: Path) -> None:
    data_dir = tmp_path / "data"
    build_pid_file, trainer_pid_file = tmp_path / "build.json", tmp_path / "trainer.json"
    slow = make_sdist(tmp_path, "slowbuild", "setup(name='slowbuild', version='0.1', packages=['slowbuild'])",
                      prelude=slow_build_prelude(build_pid_file))
    service = start_service(data_dir, "--max-concurrent-jobs", "2")
    build: list[int] = []
    try:
        ml = ml_client(service.api_endpoint)
        preparing, cancelling = unique("preparing"), unique("cancelling")
        ml.projects().jobs().create(parent=f"projects/{PROJECT}", body={"jobId": preparing, "trainingInput": {
            "scaleTier": "BASIC", "region": "us-central1", "pythonModule": "slowbuild.task",
            "packageUris": [upload(service.storage_endpoint, slow)]}}).execute()
        build = wait_for_file(build_pid_file)
        ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=make_job(
            cancelling, upload(service.storage_endpoint, trainer_sdist),
            ["--mode", "stubborn", "--pid-file", str(trainer_pid_file)])).execute()
        trainer = wait_for_file(trainer_pid_file)
        wait_for(ml, PROJECT, cancelling, lambda j: j["state"] == "RUNNING")
        ml.projects().jobs().cancel(name=f"projects/{PROJECT}/jobs/{cancelling}", body={}).execute()
        states = {job_id: ml.projects().jobs().get(name=f"projects/{PROJECT}/jobs/{job_id}").execute()["state"]
                  for job_id in (preparing, cancelling)}
        assert states == {preparing: "PREPARING", cancelling: "CANCELLING"}  # the trainer ignores SIGTERM
    finally:
        service.proc.send_signal(signal.SIGKILL)
        service.proc.wait()
    try:
        with serving(data_dir) as restarted:
            ml = ml_client(restarted.api_endpoint)
            job = ml.projects().jobs().get(name=f"projects/{PROJECT}/jobs/{preparing}").execute()
            assert job["state"] == "FAILED" and "while this job was PREPARING" in job["errorMessage"]
            job = ml.projects().jobs().get(name=f"projects/{PROJECT}/jobs/{cancelling}").execute()
            assert job["state"] == "CANCELLED" and job["errorMessage"] == "Job cancelled by the user."
            assert processes_gone(trainer), "the restarted service must kill the trainer a crash left behind"
    finally:
        for pid in build:  # a crash leaves the package build running; it is not the service's to find
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_graceful_stop_settles_running_jobs(tmp_path: Path, trainer_sdist: Path) -> None:
    data_dir = tmp_path / "data"
    pid_file = tmp_path / "pids.json"
    with serving(data_dir) as service:
        ml = ml_client(service.api_endpoint)
        job_id = unique("stopped")
        pids = start_sleeping(ml, PROJECT, job_id, upload(service.storage_endpoint, trainer_sdist), pid_file)
        wait_for(ml, PROJECT, job_id, lambda j: j["state"] == "RUNNING")
    assert service.proc.returncode == 0  # stopped by SIGTERM, not killed

    store = Store(data_dir / "service.db")
    try:
        job = store.get_job(PROJECT, job_id)
        states = [state for state, _ in store.history(PROJECT, job_id)]
    finally:
        store.close()
    assert job is not None and job["state"] == "FAILED"
    assert "stopped while this job was RUNNING" in job["errorMessage"] and job["endTime"] >= job["startTime"]
    assert states[-2:] == ["RUNNING", "FAILED"]
    assert processes_gone(pids)


def test_restart_kills_an_orphaned_setsid_child_but_not_another_services(tmp_path: Path, trainer_sdist: Path) -> None:
    import subprocess
    import sys

    data_dir = tmp_path / "data"
    pid_file = tmp_path / "pids.json"
    job_id = unique("orphan")
    service = start_service(data_dir)
    try:
        ml = ml_client(service.api_endpoint)
        ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=make_job(
            job_id, upload(service.storage_endpoint, trainer_sdist),
            ["--mode", "setsid", "--pid-file", str(pid_file)])).execute()
        trainer, child = wait_for_file(pid_file)
    finally:
        service.proc.send_signal(signal.SIGKILL)  # a crash: the trainer and its setsid() child are left behind
        service.proc.wait()
    os.kill(trainer, signal.SIGKILL)  # the child is now an orphan in its own session: no group or parent leads to it
    assert processes_gone([trainer]) and process_alive(child)
    # Same job id and project, but started by a service on another data dir: never this service's to kill.
    stranger = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        env=dict(os.environ, CLOUD_ML_JOB_ID=job_id, CLOUD_ML_PROJECT_ID=PROJECT,
                 TRAINJOBS_SERVICE_DATA_DIR=str(tmp_path / "other")))
    try:
        with serving(data_dir) as restarted:
            job = ml_client(restarted.api_endpoint).projects().jobs().get(
                name=f"projects/{PROJECT}/jobs/{job_id}").execute()
            assert job["state"] == "FAILED"
            assert processes_gone([child]), "the restarted service must kill the orphaned setsid() child"
            assert stranger.poll() is None, "another service's process was killed"
    finally:
        stranger.kill()
        stranger.wait()
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
