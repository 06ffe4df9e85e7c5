"""Restart of the service with jobs in every state: records survive, running jobs are failed, queued ones run."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from support import (
    logging_client,
    make_job,
    ml_client,
    processes_gone,
    unique,
    upload,
    wait_for,
    wait_for_file,
)

from airflow_provider_trainjobs.local.launcher import start_service

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
        ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=make_job(
            ids["RUNNING"], uri, ["--mode", "sleep", "--pid-file", str(pid_file)])).execute()
        pids = wait_for_file(pid_file)
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
