"""Lifecycle through the real ml v1 client: cancel kills the process tree, maxRunningTime, maxWaitTime, queueing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import (
    make_job,
    make_sdist,
    ml_client,
    process_alive,
    processes_gone,
    setsid_build_prelude,
    slow_build_prelude,
    start_sleeping,
    unique,
    upload,
    wait_for,
    wait_for_file,
)

from airflow_provider_trainjobs.local.launcher import start_service
from airflow_provider_trainjobs.local.store import Store

PROJECT = "local-project"


def test_cancel_running_job_kills_whole_process_tree(local_service: Any, trainer_sdist: Path,
                                                     tmp_path: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    job_id = unique("cancel")
    pid_file = tmp_path / "pids.json"
    pids = start_sleeping(ml, PROJECT, job_id, uri, pid_file)
    assert all(process_alive(p) for p in pids)
    assert wait_for(ml, PROJECT, job_id, lambda j: j["state"] == "RUNNING")["state"] == "RUNNING"

    assert ml.projects().jobs().cancel(name=f"projects/{PROJECT}/jobs/{job_id}", body={}).execute() == {}

    job = wait_for(ml, PROJECT, job_id)
    assert job["state"] == "CANCELLED"
    assert processes_gone(pids), f"trainer processes {pids} survived the cancel"


def test_cancel_kills_a_child_that_left_the_process_group(local_service: Any, trainer_sdist: Path,
                                                          tmp_path: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    job_id = unique("setsid")
    pid_file = tmp_path / "pids.json"
    ml.projects().jobs().create(
        parent=f"projects/{PROJECT}", body=make_job(job_id, uri, ["--mode", "setsid", "--pid-file", str(pid_file)])
    ).execute()
    pids = wait_for_file(pid_file)
    assert all(process_alive(p) for p in pids)

    ml.projects().jobs().cancel(name=f"projects/{PROJECT}/jobs/{job_id}", body={}).execute()

    assert wait_for(ml, PROJECT, job_id)["state"] == "CANCELLED"
    assert processes_gone(pids), f"the setsid() child of {pids} survived the cancel"


def _slow_package(service: Any, tmp_path: Path) -> tuple[str, Path]:
    """A package whose wheel build hangs (writing its pid first); returns (its gs:// URI, the pid file)."""
    pid_file = tmp_path / "build-pid.json"
    sdist = make_sdist(tmp_path, "slowbuild", "setup(name='slowbuild', version='0.1', packages=['slowbuild'])",
                       prelude=slow_build_prelude(pid_file))
    return upload(service.storage_endpoint, sdist), pid_file


def test_cancel_during_a_hanging_package_build(local_service: Any, tmp_path: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri, pid_file = _slow_package(local_service, tmp_path)
    job_id = unique("slowbuild")
    body = {"jobId": job_id, "trainingInput": {"scaleTier": "BASIC", "region": "us-central1", "packageUris": [uri],
                                               "pythonModule": "slowbuild.task"}}
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    build = wait_for_file(pid_file)
    assert ml.projects().jobs().get(name=f"projects/{PROJECT}/jobs/{job_id}").execute()["state"] == "PREPARING"

    ml.projects().jobs().cancel(name=f"projects/{PROJECT}/jobs/{job_id}", body={}).execute()

    job = wait_for(ml, PROJECT, job_id)
    assert job["state"] == "CANCELLED" and "startTime" not in job
    assert processes_gone(build), f"the package build {build} survived the cancel"
    store = Store(local_service.data_dir / "service.db")
    try:
        states = [state for state, _ in store.history(PROJECT, job_id)]
    finally:
        store.close()
    assert states == ["QUEUED", "PREPARING", "CANCELLING", "CANCELLED"]


def test_cancel_during_a_build_that_started_a_setsid_child(local_service: Any, tmp_path: Path) -> None:
    pid_file = tmp_path / "build-pids.json"
    sdist = make_sdist(tmp_path, "sidbuild", "setup(name='sidbuild', version='0.1', packages=['sidbuild'])",
                       prelude=setsid_build_prelude(pid_file))
    job_id = unique("sidbuild")
    body = {"jobId": job_id, "trainingInput": {"scaleTier": "BASIC", "region": "us-central1", "pythonModule":
                                               "sidbuild.task",
                                               "packageUris": [upload(local_service.storage_endpoint, sdist)]}}
    ml = ml_client(local_service.api_endpoint)
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    pids = wait_for_file(pid_file)  # the build and its child that left the build's session
    assert all(process_alive(p) for p in pids)

    ml.projects().jobs().cancel(name=f"projects/{PROJECT}/jobs/{job_id}", body={}).execute()

    assert wait_for(ml, PROJECT, job_id, limit=30)["state"] == "CANCELLED"
    assert processes_gone(pids), f"the build or its setsid() child {pids} survived the cancel"


def test_max_running_time_cancels_job(local_service: Any, trainer_sdist: Path, tmp_path: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    job_id = unique("maxrun")
    pid_file = tmp_path / "pids.json"
    pids = start_sleeping(ml, PROJECT, job_id, uri, pid_file, scheduling={"maxRunningTime": "1s"})

    job = wait_for(ml, PROJECT, job_id)

    assert job["state"] == "CANCELLED"
    assert "maxRunningTime (1s)" in job["errorMessage"]
    assert processes_gone(pids)


@pytest.fixture(scope="module")
def one_slot_service(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A service running one job at a time whose deadlines count 1000x faster (1800s -> 1.8s)."""
    service = start_service(tmp_path_factory.mktemp("oneslot") / "data",
                            "--max-concurrent-jobs", "1", "--deadline-scale", "0.001")
    try:
        yield service
    finally:
        service.proc.terminate()
        service.proc.wait(timeout=30)


def _occupy_the_slot(service: Any, sdist: Path) -> tuple[Any, str, str]:
    """Starts a sleeping job that takes the service's one slot; returns (ml client, package URI, its id)."""
    ml = ml_client(service.api_endpoint)
    uri = upload(service.storage_endpoint, sdist)
    blocker = unique("blocker")
    ml.projects().jobs().create(parent=f"projects/{PROJECT}",
                                body=make_job(blocker, uri, ["--mode", "sleep"])).execute()
    wait_for(ml, PROJECT, blocker, lambda j: j["state"] == "RUNNING")  # its environment is built
    return ml, uri, blocker


def _cancel_and_wait(ml: Any, job_id: str) -> dict[str, Any]:
    ml.projects().jobs().cancel(name=f"projects/{PROJECT}/jobs/{job_id}", body={}).execute()
    return wait_for(ml, PROJECT, job_id)


def test_max_wait_time_cancels_queued_job(one_slot_service: Any, trainer_sdist: Path) -> None:
    ml, uri, blocker = _occupy_the_slot(one_slot_service, trainer_sdist)
    # The waiter's 1.8 s must not run out while the blocker still builds its package (a loaded machine).
    wait_for(ml, PROJECT, blocker, lambda j: j["state"] == "RUNNING")
    waiter = unique("waiter")
    queued = ml.projects().jobs().create(
        parent=f"projects/{PROJECT}",
        body=make_job(waiter, uri, ["--mode", "succeed"], scheduling={"maxWaitTime": "1800s"}),
    ).execute()
    assert queued["state"] == "QUEUED"
    seen = wait_for(ml, PROJECT, waiter, lambda j: "jobPosition" in j or j["state"] != "QUEUED")
    assert seen.get("jobPosition") == "0" and seen["state"] == "QUEUED"

    job = wait_for(ml, PROJECT, waiter)

    assert job["state"] == "CANCELLED"
    assert "maxWaitTime (1800s)" in job["errorMessage"] and "QUEUED" in job["errorMessage"]
    assert "startTime" not in job
    assert ml.projects().jobs().get(name=f"projects/{PROJECT}/jobs/{blocker}").execute()["state"] == "RUNNING"
    assert _cancel_and_wait(ml, blocker)["state"] == "CANCELLED"


def test_cancel_queued_job_never_runs(one_slot_service: Any, trainer_sdist: Path) -> None:
    ml, uri, blocker = _occupy_the_slot(one_slot_service, trainer_sdist)
    queued = unique("queued")
    ml.projects().jobs().create(parent=f"projects/{PROJECT}",
                                body=make_job(queued, uri, ["--mode", "succeed"])).execute()
    job = _cancel_and_wait(ml, queued)
    assert job["state"] == "CANCELLED" and "startTime" not in job
    assert _cancel_and_wait(ml, blocker)["state"] == "CANCELLED"


def test_max_wait_time_stops_a_hanging_package_build(one_slot_service: Any, tmp_path: Path) -> None:
    ml = ml_client(one_slot_service.api_endpoint)
    uri, pid_file = _slow_package(one_slot_service, tmp_path)
    job_id = unique("slowwait")
    body = {"jobId": job_id, "trainingInput": {"scaleTier": "BASIC", "region": "us-central1", "packageUris": [uri],
                                               "pythonModule": "slowbuild.task",
                                               "scheduling": {"maxWaitTime": "1800s"}}}
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    build = wait_for_file(pid_file)

    job = wait_for(ml, PROJECT, job_id)

    assert job["state"] == "CANCELLED"
    assert "maxWaitTime (1800s)" in job["errorMessage"] and "while PREPARING" in job["errorMessage"]
    assert processes_gone(build), f"the package build {build} survived the deadline"
