"""Custom containers run for real on the local service (issue 11.2): podman with runc on an image built offline.

Skipped only where podman is missing and CI is not set; CI (CI=true) installs podman and runc and must run them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support import list_log_entries, logging_client, ml_client, unique, wait_for
from support.container_image import build_trainer_image, engine_environment, podman

from airflow_provider_trainjobs.local.launcher import ServiceProcess, serving

PROJECT = "local-project"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], dict[str, str]]]:
    if shutil.which("podman") is None or shutil.which("runc") is None:
        message = "podman or runc not installed: apt-get install -y podman runc (Debian) to run this test"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must run the container jobs")
        pytest.skip(message)
    work = tmp_path_factory.mktemp("podman")
    command, env = podman(work / "storage"), engine_environment(work)
    yield command, env
    subprocess.run([*command, "system", "reset", "--force"], capture_output=True, env={**os.environ, **env},
                   check=False, timeout=120)


@pytest.fixture(scope="module")
def image(engine: tuple[list[str], dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> str:
    command, env = engine
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        return build_trainer_image(command, "trainjobs-test-trainer", tmp_path_factory.mktemp("rootfs"))


@pytest.fixture(scope="module")
def container_service(engine: tuple[list[str], dict[str, str]], image: str,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    command, env = engine
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)  # inherited by the service and the podman it runs
        with serving(tmp_path_factory.mktemp("ctr") / "data", "--container-runtime", shlex.join(command)) as service:
            patch.undo()
            yield service


def _submit(service: ServiceProcess, image: str, **training: Any) -> str:
    job_id = unique("ctr")
    body = {"jobId": job_id, "trainingInput": {"scaleTier": "BASIC", "region": "us-central1",
                                               "masterConfig": {"imageUri": image}, **training}}
    for key in ("containerArgs", "containerCommand"):
        if key in training:
            body["trainingInput"]["masterConfig"][key] = body["trainingInput"].pop(key)
    ml_client(service.api_endpoint).projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    return job_id


def _lines(service: ServiceProcess, job_id: str) -> list[str]:
    return [e["jsonPayload"]["message"] for e in list_log_entries(logging_client(service.api_endpoint), job_id)]


def test_a_container_job_runs_with_the_clouds_command_line_and_environment(container_service: ServiceProcess,
                                                                          image: str) -> None:
    job_id = _submit(container_service, image, containerArgs=["--x=1"], args=["--y=2"],
                     jobDir="gs://trainjobs-tests/ctr/plain")
    job = wait_for(ml_client(container_service.api_endpoint), PROJECT, job_id, limit=180)

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    lines = _lines(container_service, job_id)
    assert 'container argv ["--x=1", "--y=2", "--job-dir", "gs://trainjobs-tests/ctr/plain"]' in lines
    assert "container task master 0" in lines
    assert "container reached storage 200" in lines  # host networking: the emulator on 127.0.0.1 answers
    assert f'container env {{"AIP_MODEL_DIR": null, "CLOUD_ML_JOB_ID": "{job_id}", "CLOUD_ML_TRIAL_ID": null}}' in lines


def test_a_failing_container_has_its_exit_code_in_the_error_message(container_service: ServiceProcess,
                                                                   image: str) -> None:
    job_id = _submit(container_service, image, containerArgs=["--exit-code=3"])
    job = wait_for(ml_client(container_service.api_endpoint), PROJECT, job_id, limit=180)

    assert job["state"] == "FAILED"
    assert job["errorMessage"].startswith("The replica master 0 exited with a non-zero status of 3.")
    assert "container trainer failing with 3" in job["errorMessage"]


def test_a_tuning_trial_reports_its_metric_from_inside_the_container(container_service: ServiceProcess,
                                                                    image: str) -> None:
    spec = {"goal": "MAXIMIZE", "hyperparameterMetricTag": "accuracy", "algorithm": "GRID_SEARCH", "maxTrials": 2,
            "maxParallelTrials": 1, "params": [{"parameterName": "x", "type": "DISCRETE", "discreteValues": [1, 2]}]}
    job_id = _submit(container_service, image, hyperparameters=spec)
    job = wait_for(ml_client(container_service.api_endpoint), PROJECT, job_id, limit=240)

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    trials = {t["hyperparameters"]["x"]: t for t in job["trainingOutput"]["trials"]}
    assert trials["1"]["finalMetric"] == {"trainingStep": "1", "objectiveValue": -1.0}
    assert trials["2"]["finalMetric"] == {"trainingStep": "1", "objectiveValue": 0.0}
    expected = f'container env {{"AIP_MODEL_DIR": null, "CLOUD_ML_JOB_ID": "{job_id}", "CLOUD_ML_TRIAL_ID": "2"}}'
    assert expected in _lines(container_service, job_id)


def test_cancel_stops_the_container(container_service: ServiceProcess, image: str,
                                    engine: tuple[list[str], dict[str, str]]) -> None:
    ml = ml_client(container_service.api_endpoint)
    job_id = _submit(container_service, image, containerArgs=["--sleep=120"])
    deadline = time.monotonic() + 120
    while "container task master 0" not in _lines(container_service, job_id):
        assert time.monotonic() < deadline, "the container never started"
        time.sleep(0.2)
    ml.projects().jobs().cancel(name=f"projects/{PROJECT}/jobs/{job_id}", body={}).execute()
    job = wait_for(ml, PROJECT, job_id, limit=120)

    assert job["state"] == "CANCELLED"
    command, env = engine
    names = subprocess.run([*command, "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                           env={**os.environ, **env}, check=True, timeout=60).stdout.split()
    assert not [n for n in names if job_id in n], names


def test_the_vertex_translation_runs_the_same_command_line(container_service: ServiceProcess, image: str) -> None:
    from google.auth.credentials import AnonymousCredentials
    from googleapiclient.discovery import build

    from airflow_provider_trainjobs.spec.vertex import to_vertex_job

    job_dir = "gs://trainjobs-tests/ctr/vertex"
    ml_job = {"jobId": unique("vx"), "trainingInput": {
        "scaleTier": "BASIC", "region": "us-central1", "jobDir": job_dir, "args": ["--y=2"],
        "masterConfig": {"imageUri": image, "containerArgs": ["--x=1"]}}}
    vertex = build("aiplatform", "v1", client_options={"api_endpoint": container_service.api_endpoint},
                   credentials=AnonymousCredentials(), static_discovery=True, cache_discovery=False)
    jobs = vertex.projects().locations().customJobs()
    created = jobs.create(parent=f"projects/{PROJECT}/locations/us-central1", body=to_vertex_job(ml_job)).execute()
    deadline = time.monotonic() + 180
    while (job := jobs.get(name=created["name"]).execute())["state"] not in (
            "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)

    assert job["state"] == "JOB_STATE_SUCCEEDED", job.get("error")
    entries = list_log_entries(logging_client(container_service.api_endpoint), created["name"].rsplit("/", 1)[1])
    lines = [e["jsonPayload"]["message"] for e in entries]
    assert f'container argv ["--x=1", "--y=2", "--job-dir", "{job_dir}"]' in lines  # as the ml v1 job above
    assert "container task chief 0" in lines
    assert any(line.startswith('container env {"AIP_MODEL_DIR": "gs://trainjobs-tests/ctr/vertex/model/"')
               for line in lines), lines


def test_a_deadline_stops_the_container(container_service: ServiceProcess, image: str,
                                        engine: tuple[list[str], dict[str, str]]) -> None:
    job_id = _submit(container_service, image, containerArgs=["--sleep=120"], scheduling={"maxRunningTime": "8s"})
    job = wait_for(ml_client(container_service.api_endpoint), PROJECT, job_id, limit=120)

    assert job["state"] == "CANCELLED" and "maxRunningTime (8s)" in job["errorMessage"]
    command, env = engine
    names = subprocess.run([*command, "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                           env={**os.environ, **env}, check=True, timeout=60).stdout.split()
    assert not [n for n in names if job_id in n], names
