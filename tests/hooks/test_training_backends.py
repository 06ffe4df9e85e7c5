"""The same hook calls on both backends (ml v1 and Vertex AI) against the local service: the neutral job
view, re-attach by label/displayName on Vertex, failure messages, cancel, logs and console links."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from support import TRAINER_MODULE, backend_job, lose_first_create_response, unique

from airflow_provider_trainjobs.hooks.errors import JobSpecConflict, TrainingJobFailed
from airflow_provider_trainjobs.hooks.logs import LogCursor
from airflow_provider_trainjobs.hooks.training import TrainingJobHook


def make_hook() -> TrainingJobHook:
    return TrainingJobHook(retry_delay=0.01, retry_max_delay=0.05)


def test_submit_wait_and_reattach(backend: str, staged_trainer: str) -> None:
    package = staged_trainer
    hook = make_hook()
    job_id = unique("both_ok")
    created = hook.create_job(backend_job(backend, job_id, package, lines=2))
    assert created["jobId"] == job_id
    if backend == "vertex":
        assert created["vertexName"].startswith("projects/local-project/locations/us-central1/customJobs/")
    final = hook.wait_for_job(job_id, poll_interval=0.1)
    assert final["state"] == "SUCCEEDED"
    assert final["trainingInput"]["pythonModule"] == TRAINER_MODULE
    # a task retry with a fresh hook finds the same job instead of creating another
    again = make_hook().create_job(backend_job(backend, job_id, package, lines=2))
    assert again["jobId"] == job_id and again["state"] == "SUCCEEDED"
    assert [j["jobId"] for j in hook.list_jobs()].count(job_id) == 1
    lines = make_hook().fetch_logs(job_id, LogCursor())
    replica = "workerpool0-0" if backend == "vertex" else "master-replica-0"  # each backend's task_name
    assert f"[{replica}] tiny line 2 of 2" in lines
    page_id = final["vertexName"].rsplit("/", 1)[-1] if backend == "vertex" else job_id
    url = hook.console_url(job_id, final)
    assert url == f"{hook.settings.api_endpoint}/console/jobs/{page_id}?project=local-project"
    assert make_hook().console_url(job_id) == url  # a fresh hook finds the same page
    with urllib.request.urlopen(url, timeout=10) as page:
        assert page.status == 200 and job_id in page.read().decode()


def test_vertex_console_url_uses_the_jobs_own_location(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Google Cloud the page is in the location of the job's resource name, not the connection's region."""
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps({"conn_type": "trainjobs", "extra": {
        "project": "my-project", "backend": "vertex", "region": "us-central1"}}))
    hook = make_hook()
    assert hook.settings.region == "us-central1"
    for kind in ("customJobs", "hyperparameterTuningJobs"):
        job = {"jobId": "census_1", "vertexName": f"projects/123/locations/europe-west4/{kind}/987"}
        assert hook.console_url("census_1", job) == (
            "https://console.cloud.google.com/vertex-ai/locations/europe-west4/training/987/cpu?project=my-project")


def test_different_spec_conflicts(backend: str, staged_trainer: str) -> None:
    package = staged_trainer
    hook = make_hook()
    job_id = unique("both_conflict")
    hook.create_job(backend_job(backend, job_id, package, lines=0))
    with pytest.raises(JobSpecConflict, match="trainingInput.args"):
        make_hook().create_job(backend_job(backend, job_id, package, lines=9))


def test_failure_and_cancel(backend: str, staged_trainer: str) -> None:
    package = staged_trainer
    hook = make_hook()
    failing, sleeping = unique("both_fail"), unique("both_cancel")
    hook.create_job(backend_job(backend, failing, package, exit_code=4))
    hook.create_job(backend_job(backend, sleeping, package, sleep=60))
    with pytest.raises(TrainingJobFailed) as info:
        hook.wait_for_job(failing, poll_interval=0.1)
    assert info.value.job["state"] == "FAILED" and info.value.job["errorMessage"] in str(info.value)
    assert make_hook().cancel_job(sleeping)["state"] in ("CANCELLING", "CANCELLED")
    with pytest.raises(TrainingJobFailed, match="CANCELLED"):
        hook.wait_for_job(sleeping, poll_interval=0.1)


def test_create_whose_response_was_lost_makes_one_job(backend: str, staged_trainer: str) -> None:
    """The POST reaches the service but its answer is lost (a transport wrapper: the service cannot drop a
    connection after doing the work). On ml v1 the retry gets 409 and attaches; on Vertex, which assigns
    ids and never answers 409, the retry looks the job up by its label before posting again."""
    package = staged_trainer
    hook = make_hook()
    job_id = unique("both_lost")
    lost = lose_first_create_response(hook, ("/jobs", "/customJobs"))
    job = hook.create_job(backend_job(backend, job_id, package, lines=0))
    assert lost and job["jobId"] == job_id
    assert [j["jobId"] for j in make_hook().list_jobs()].count(job_id) == 1


@pytest.mark.parametrize("backend", ["vertex"], indirect=True)
def test_vertex_jobs_live_in_their_training_input_region(backend: str, staged_trainer: str) -> None:
    """The connection says us-central1; the job says europe-west4: it is created, found again on a retry and
    read in europe-west4. A hook given a different region explicitly refuses before any call."""
    job_id = unique("both_region")
    body = backend_job(backend, job_id, staged_trainer, lines=0)
    body["trainingInput"]["region"] = "europe-west4"
    hook = make_hook()
    assert hook.settings.region == "us-central1"
    created = hook.create_job(body)
    assert created["vertexName"].startswith("projects/local-project/locations/europe-west4/customJobs/")
    again = make_hook().create_job(body)  # a task retry finds it in the job's own region
    assert again["vertexName"] == created["vertexName"]
    assert make_hook().list_jobs(filter=f"jobId:{job_id}*") == []  # nothing in the connection's region
    in_region = TrainingJobHook(region="europe-west4", retry_delay=0.01)
    assert [j["jobId"] for j in in_region.list_jobs(filter=f"jobId:{job_id}*")] == [job_id]
    assert in_region.wait_for_job(job_id, poll_interval=0.1)["state"] == "SUCCEEDED"
    assert "/locations/europe-west4/training/" not in hook.console_url(job_id, created)  # local page, by id
    with pytest.raises(ValueError, match="trainingInput.region is 'europe-west4' but this hook was given "
                                         "region='us-central1'"):
        TrainingJobHook(region="us-central1").create_job({**body, "jobId": unique("both_region_bad")})


def test_the_connections_executor_image_is_the_default(local_service: Any, staged_trainer: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A job without runtimeVersion has no derivable Vertex container; the connection's executor_image_uri
    extra supplies it when create_job gets none."""
    image = "us-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest"
    extras = {**local_service.conn_extras("vertex"), "executor_image_uri": image}
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", json.dumps({"conn_type": "trainjobs", "extra": extras}))
    job_id = unique("both_image")
    created = make_hook().create_job(backend_job("ai-platform", job_id, staged_trainer, lines=0))
    with urllib.request.urlopen(f"{local_service.api_endpoint}/v1/{created['vertexName']}", timeout=10) as resp:
        resource = json.loads(resp.read())
    pools = resource["jobSpec"]["workerPoolSpecs"]
    assert pools[0]["pythonPackageSpec"]["executorImageUri"] == image
