"""The local service's aiplatform v1 routes through the real discovery-built Vertex AI client.

The toolbox trainer's ``vertexenv`` mode writes what each replica sees into the job's /gcs view
(``$TRAINJOBS_GCS_ROOT``), which the service uploads to the storage emulator when the job ends.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from googleapiclient.errors import HttpError
from support import logging_client, ml_client, storage_client, unique, upload

PROJECT = "local-project"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
BUCKET = "trainjobs-tests"
IMAGE = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-8:latest"
TERMINAL = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")


def vertex_client(api_endpoint: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from googleapiclient.discovery import build

    return build("aiplatform", "v1", client_options={"api_endpoint": api_endpoint},
                 credentials=AnonymousCredentials(), static_discovery=True, cache_discovery=False)


@pytest.fixture(scope="module")
def vertex(local_service: Any) -> Any:
    return vertex_client(local_service.api_endpoint)


@pytest.fixture(scope="module")
def package(local_service: Any, trainer_sdist: Path) -> str:
    return upload(local_service.storage_endpoint, trainer_sdist, BUCKET)


def _pool(package: str, args: list[str], count: int = 1, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"executorImageUri": IMAGE, "packageUris": [package], "pythonModule": "toolbox.task",
                            "args": args}
    spec.update(extra)
    return {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": str(count), "pythonPackageSpec": spec}


def _custom_job(name: str, pools: list[dict[str, Any]], out: str | None = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"workerPoolSpecs": pools}
    if out:
        spec["baseOutputDirectory"] = {"outputUriPrefix": out}
    spec.update(extra)
    return {"displayName": name, "jobSpec": spec, "labels": {"suite": "vertex-routes"}}


def _wait(collection: Any, name: str, done: Any = None, limit: float = 60.0) -> dict[str, Any]:
    done = done or (lambda job: job["state"] in TERMINAL)
    deadline = time.monotonic() + limit
    while True:
        job: dict[str, Any] = collection.get(name=name).execute()
        if done(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} never reached the expected condition; last view: {job}")
        time.sleep(0.05)


def _envs(storage_endpoint: str, prefix: str) -> dict[str, dict[str, Any]]:
    blobs = storage_client(storage_endpoint).list_blobs(BUCKET, prefix=prefix)
    return {Path(b.name).name[: -len(".json")]: json.loads(b.download_as_text()) for b in blobs
            if b.name.endswith(".json")}


def _error(call: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(HttpError) as info:
        call.execute()
    return info.value.resp.status, json.loads(info.value.content)["error"]


def test_custom_job_succeeds_with_vertex_environment(vertex: Any, local_service: Any, package: str) -> None:
    jobs = vertex.projects().locations().customJobs()
    tag = unique("cj")
    out = f"gs://{BUCKET}/vertex/{tag}"
    client = storage_client(local_service.storage_endpoint)
    client.bucket(BUCKET).blob(f"inputs/{tag}.txt").upload_from_string("seed data")
    body = _custom_job(tag, [_pool(package, ["--mode", "vertexenv", "--kind", f"gs://{BUCKET}/inputs/{tag}.txt"],
                                   env=[{"name": "POOL_VAR", "value": "pool-zero"}])], out)

    created = jobs.create(parent=PARENT, body=body).execute()

    job_id = created["name"].rsplit("/", 1)[-1]
    assert job_id.isdigit() and created["name"] == f"{PARENT}/customJobs/{job_id}"
    assert created["state"] == "JOB_STATE_QUEUED" and created["displayName"] == tag
    assert created["jobSpec"] == body["jobSpec"] and created["labels"] == {"suite": "vertex-routes"}
    job = _wait(jobs, created["name"])
    assert job["state"] == "JOB_STATE_SUCCEEDED", job.get("error")
    assert job["createTime"] <= job["startTime"] <= job["endTime"] <= job["updateTime"]
    assert "error" not in job

    seen = _envs(local_service.storage_endpoint, f"vertex/{tag}/model/env/")["workerpool0-0"]
    assert seen["AIP_MODEL_DIR"] == f"{out}/model/"
    assert seen["AIP_CHECKPOINT_DIR"] == f"{out}/checkpoints/"
    assert seen["AIP_TENSORBOARD_LOG_DIR"] == f"{out}/logs/"
    assert seen["CLOUD_ML_PROJECT_ID"] == PROJECT and seen["CLOUD_ML_JOB_ID"] == job_id
    assert seen["CLOUD_ML_TRIAL_ID"] is None and seen["POOL_VAR"] == "pool-zero"
    assert seen["STORAGE_EMULATOR_HOST"] == local_service.storage_endpoint
    assert seen["input"] == "seed data"  # read through the /gcs view
    assert "--job-dir" not in seen["argv"]  # Vertex passes the pool's args only
    cluster_spec = json.loads(seen["CLUSTER_SPEC"])
    assert list(cluster_spec["cluster"]) == ["workerpool0"] and cluster_spec["environment"] == "cloud"
    assert cluster_spec["task"] == {"type": "workerpool0", "index": 0}
    tf_config = json.loads(seen["TF_CONFIG"])
    assert tf_config["cluster"] == {"chief": cluster_spec["cluster"]["workerpool0"]}
    assert tf_config["task"] == {"type": "chief", "index": 0} and tf_config["environment"] == "cloud"

    # Logs answer the filter Vertex uses for custom jobs: resource.type="ml_job" and the numeric id.
    logging = logging_client(local_service.api_endpoint)
    entries = logging.entries().list(body={
        "resourceNames": [f"projects/{PROJECT}"],
        "filter": f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"',
    }).execute()["entries"]
    lines = [(e["labels"]["task_name"], e["jsonPayload"]["message"]) for e in entries]
    assert ("workerpool0-0", "vertex env dumped for workerpool0-0") in lines
    assert any("executorImageUri" in message and "own interpreter" in message for _, message in lines)

    # The console page and the ml v1 routes: the page knows the job by its id; ml v1 does not list it.
    with urllib.request.urlopen(f"{local_service.api_endpoint}/console/jobs/{job_id}") as resp:
        assert resp.status == 200 and job_id in resp.read().decode()
    ml = ml_client(local_service.api_endpoint)
    status, _ = _error(ml.projects().jobs().get(name=f"projects/{PROJECT}/jobs/{job_id}"))
    assert status == 404


def test_three_pool_job_sees_one_consistent_cluster(vertex: Any, local_service: Any, package: str) -> None:
    jobs = vertex.projects().locations().customJobs()
    tag = unique("pools")
    out = f"gs://{BUCKET}/vertex/{tag}"
    args = ["--mode", "vertexenv"]
    pools = [_pool(package, args), _pool(package, args, count=2), _pool(package, args)]
    created = jobs.create(parent=PARENT, body=_custom_job(tag, pools, out)).execute()

    job = _wait(jobs, created["name"])

    assert job["state"] == "JOB_STATE_SUCCEEDED", job.get("error")
    envs = _envs(local_service.storage_endpoint, f"vertex/{tag}/model/env/")
    assert sorted(envs) == ["workerpool0-0", "workerpool1-0", "workerpool1-1", "workerpool2-0"]
    specs = {name: json.loads(seen["CLUSTER_SPEC"]) for name, seen in envs.items()}
    tf_configs = {name: json.loads(seen["TF_CONFIG"]) for name, seen in envs.items()}
    cluster = specs["workerpool0-0"]["cluster"]
    assert {k: len(v) for k, v in cluster.items()} == {"workerpool0": 1, "workerpool1": 2, "workerpool2": 1}
    assert all(spec["cluster"] == cluster for spec in specs.values())
    assert tf_configs["workerpool0-0"]["cluster"] == {
        "chief": cluster["workerpool0"], "worker": cluster["workerpool1"], "ps": cluster["workerpool2"]}
    for name, tf_config in tf_configs.items():
        pool, index = name[len("workerpool"):].split("-")
        assert specs[name]["task"] == {"type": f"workerpool{pool}", "index": int(index)}
        assert tf_config["task"] == {"type": ("chief", "worker", "ps")[int(pool)], "index": int(index)}
        assert tf_config["job"]["workerPoolSpecs"][1]["replicaCount"] == "2"


def test_failure_carries_error_message(vertex: Any, package: str) -> None:
    jobs = vertex.projects().locations().customJobs()
    tag = unique("fail")
    body = _custom_job(tag, [_pool(package, ["--mode", "fail", "--exit-code", "4"])])
    job = _wait(jobs, jobs.create(parent=PARENT, body=body).execute()["name"])
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"]["code"] == 3
    assert "The replica workerpool0-0 exited with a non-zero status of 4" in job["error"]["message"]
    assert "ValueError: boom" in job["error"]["message"]


def test_cancel_returns_empty_and_the_job_ends_cancelled(vertex: Any, package: str) -> None:
    jobs = vertex.projects().locations().customJobs()
    body = _custom_job(unique("cancel"), [_pool(package, ["--mode", "sleep", "--sleep", "60"])])
    name = jobs.create(parent=PARENT, body=body).execute()["name"]
    _wait(jobs, name, lambda job: job["state"] == "JOB_STATE_RUNNING")

    assert jobs.cancel(name=name, body={}).execute() == {}

    job = _wait(jobs, name)
    assert job["state"] == "JOB_STATE_CANCELLED" and job["error"]["code"] == 1
    status, error = _error(jobs.cancel(name=name, body={}))
    assert status == 400 and error["status"] == "FAILED_PRECONDITION"


def test_scheduling_timeout_is_the_running_deadline(vertex: Any, package: str) -> None:
    jobs = vertex.projects().locations().customJobs()
    body = _custom_job(unique("timeout"), [_pool(package, ["--mode", "sleep", "--sleep", "60"])],
                       scheduling={"timeout": "1s"})
    job = _wait(jobs, jobs.create(parent=PARENT, body=body).execute()["name"])
    assert job["state"] == "JOB_STATE_CANCELLED"
    assert job["error"]["code"] == 4 and "scheduling.timeout (1s)" in job["error"]["message"]


def test_list_filters_and_pages(vertex: Any, package: str) -> None:
    jobs = vertex.projects().locations().customJobs()
    group = unique("grp").lower()
    names = []
    for index in range(3):
        args = ["--mode", "vertexenv", "--vertex-exit", "2" if index == 2 else "0"]
        body = _custom_job(f"{group}_{index}", [_pool(package, args)], f"gs://{BUCKET}/vertex/{group}_{index}")
        body["labels"] = {"group": group, "index": str(index)}
        names.append(jobs.create(parent=PARENT, body=body).execute()["name"])
    for name in names:
        _wait(jobs, name)

    def listed(filter_: str, page_size: int = 100) -> list[list[str]]:
        pages, token = [], None
        while True:
            kwargs: dict[str, Any] = {"parent": PARENT, "filter": filter_, "pageSize": page_size}
            if token:
                kwargs["pageToken"] = token
            page = jobs.list(**kwargs).execute()
            pages.append([job["displayName"] for job in page.get("customJobs", [])])
            token = page.get("nextPageToken")
            if not token:
                return pages

    assert listed(f'labels.group="{group}"', page_size=2) == [[f"{group}_0", f"{group}_1"], [f"{group}_2"]]
    assert listed(f'labels.group="{group}" AND state=JOB_STATE_FAILED') == [[f"{group}_2"]]
    assert listed(f'display_name="{group}_0" OR displayName="{group}_1"') == [[f"{group}_0", f"{group}_1"]]
    assert listed(f'labels.group="{group}" AND NOT state="JOB_STATE_FAILED"') == [[f"{group}_0", f"{group}_1"]]
    assert listed(f'display_name:"{group}_*" AND labels.index:*') == [[f"{group}_0", f"{group}_1", f"{group}_2"]]
    status, error = _error(jobs.list(parent=PARENT, filter="labels.group=(("))
    assert status == 400 and error["status"] == "INVALID_ARGUMENT"
    other = vertex.projects().locations().hyperparameterTuningJobs()
    found = other.list(parent=PARENT, filter=f'labels.group="{group}"').execute()
    assert found.get("hyperparameterTuningJobs") is None


def test_tuning_job_grid_finds_the_known_best_trial(vertex: Any, local_service: Any, package: str) -> None:
    jobs = vertex.projects().locations().hyperparameterTuningJobs()
    tag = unique("hpt")
    out = f"gs://{BUCKET}/vertex/{tag}"
    study = {
        "metrics": [{"metricId": "accuracy", "goal": "MAXIMIZE"}],
        "parameters": [
            {"parameterId": "x", "discreteValueSpec": {"values": [1, 3]}},
            {"parameterId": "kind", "categoricalValueSpec": {"values": ["a", "b"]}},
        ],
        "algorithm": "GRID_SEARCH",
    }
    body = {"displayName": tag, "studySpec": study, "maxTrialCount": 10, "parallelTrialCount": 2,
            "trialJobSpec": {"workerPoolSpecs": [_pool(package, ["--mode", "hp", "--tag", "accuracy"])],
                             "baseOutputDirectory": {"outputUriPrefix": out}}}

    created = jobs.create(parent=PARENT, body=body).execute()
    job = _wait(jobs, created["name"], limit=90)

    assert job["state"] == "JOB_STATE_SUCCEEDED", job.get("error")
    assert job["studySpec"] == study and job["trialJobSpec"] == body["trialJobSpec"]
    trials = job["trials"]
    assert len(trials) == 4 and all(t["state"] == "SUCCEEDED" for t in trials)
    assert sorted(t["id"] for t in trials) == ["1", "2", "3", "4"]
    for trial in trials:
        values = {p["parameterId"]: p["value"] for p in trial["parameters"]}
        expected = -((values["x"] - 3) ** 2) + {"a": 0, "b": 10}[values["kind"]]
        assert isinstance(values["x"], float) and isinstance(values["kind"], str)
        metrics = trial["finalMeasurement"]["metrics"]
        assert metrics == [{"metricId": "accuracy", "value": expected}]
        assert trial["finalMeasurement"]["stepCount"] == "1" and trial["startTime"] <= trial["endTime"]
    best = max(trials, key=lambda t: t["finalMeasurement"]["metrics"][0]["value"])
    assert {p["parameterId"]: p["value"] for p in best["parameters"]} == {"x": 3.0, "kind": "b"}

    # Each trial's AIP_MODEL_DIR is <prefix>/<trialId>/model/ (the trainer prints it as JSON).
    job_id = created["name"].rsplit("/", 1)[-1]
    logging = logging_client(local_service.api_endpoint)
    entries = logging.entries().list(body={
        "resourceNames": [f"projects/{PROJECT}"],
        "filter": f'resource.type="ml_job" AND resource.labels.job_id="{job_id}" AND labels.trial_id="2"',
    }).execute()["entries"]
    printed = [json.loads(e["jsonPayload"]["message"]) for e in entries if e["jsonPayload"]["message"].startswith("{")]
    assert printed and printed[0]["model_dir"] == f"{out}/2/model/" and printed[0]["task"]["trial"] == "2"


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("customJobs", {"displayName": "x", "jobSpec": {"workerPoolSpecs": [{"replicaCount": "one"}]}},
         "jobSpec.workerPoolSpecs[0].replicaCount"),
        ("customJobs", {"displayName": "x", "jobSpec": {"workerPoolSpecs": [{"machineSpec": {}, "bogus": 1}]}},
         "jobSpec.workerPoolSpecs[0].bogus"),
        ("customJobs", {"jobSpec": {"workerPoolSpecs": [{}]}}, "displayName"),
        ("customJobs", {"displayName": "x", "jobSpec": {"workerPoolSpecs": [
            {"replicaCount": "1", "pythonPackageSpec": {"executorImageUri": IMAGE, "pythonModule": "m"}}]}},
         "jobSpec.workerPoolSpecs[0].pythonPackageSpec.packageUris"),
        ("customJobs", {"displayName": "x", "jobSpec": {"workerPoolSpecs": [
            {"replicaCount": "2", "containerSpec": {"imageUri": "gcr.io/p/i"}}]}},
         "jobSpec.workerPoolSpecs[0].replicaCount"),
        ("hyperparameterTuningJobs", {"displayName": "x", "maxTrialCount": 1, "parallelTrialCount": 1,
                                      "studySpec": {"metrics": [{"metricId": "m", "goal": "UP"}]},
                                      "trialJobSpec": {}}, "studySpec.metrics[m].goal"),
        ("hyperparameterTuningJobs", {"displayName": "x", "maxTrialCount": 1, "parallelTrialCount": 1,
                                      "studySpec": {"metrics": [{"metricId": "m"}], "parameters": []},
                                      "trialJobSpec": {}}, "studySpec.parameters"),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(vertex: Any, kind: str, body: dict[str, Any], field: str) -> None:
    collection = getattr(vertex.projects().locations(), kind)()
    status, error = _error(collection.create(parent=PARENT, body=body))
    assert status == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith(field), error["message"]


def test_unknown_jobs_are_404(vertex: Any, package: str) -> None:
    jobs = vertex.projects().locations().customJobs()
    status, error = _error(jobs.get(name=f"{PARENT}/customJobs/123"))
    assert status == 404 and error["status"] == "NOT_FOUND" and f"{PARENT}/customJobs/123" in error["message"]
    status, _ = _error(jobs.cancel(name=f"{PARENT}/customJobs/123", body={}))
    assert status == 404
    # A custom job is not a tuning job, and a job lives in its own location only.
    name = jobs.create(parent=PARENT, body=_custom_job(unique("where"), [_pool(package, [])])).execute()["name"]
    job_id = name.rsplit("/", 1)[-1]
    tuning = vertex.projects().locations().hyperparameterTuningJobs()
    assert _error(tuning.get(name=f"{PARENT}/hyperparameterTuningJobs/{job_id}"))[0] == 404
    assert _error(jobs.get(name=f"projects/{PROJECT}/locations/europe-west4/customJobs/{job_id}"))[0] == 404
    _wait(jobs, name)


def _console(api_endpoint: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{api_endpoint}/console/jobs/{path}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_console_page_finds_vertex_jobs_by_job_id_label_or_display_name(vertex: Any, local_service: Any,
                                                                        package: str) -> None:
    jobs = vertex.projects().locations().customJobs()
    job_id = unique("Console")
    body = _custom_job(job_id, [_pool(package, [])])
    body["labels"] = {"trainjobs_job_id": job_id.lower()}
    name = jobs.create(parent=PARENT, body=body).execute()["name"]
    numeric = name.rsplit("/", 1)[-1]

    for path in (numeric, job_id, job_id.lower(), f"{job_id}?project={PROJECT}"):
        status, page = _console(local_service.api_endpoint, path)
        assert status == 200 and numeric in page, path
    status, page = _console(local_service.api_endpoint, f"{job_id}?project=another-project")
    assert status == 404 and "another-project" in page
    _wait(jobs, name)


def test_console_page_takes_the_project_from_the_query(local_service: Any, package: str) -> None:
    ml = ml_client(local_service.api_endpoint)
    job_id = unique("elsewhere")
    body = {"jobId": job_id, "trainingInput": {"scaleTier": "BASIC", "region": LOCATION, "packageUris": [package],
                                               "pythonModule": "toolbox.task"}}
    ml.projects().jobs().create(parent="projects/another-project", body=body).execute()

    assert _console(local_service.api_endpoint, job_id)[0] == 404  # not in local-project
    status, page = _console(local_service.api_endpoint, f"{job_id}?project=another-project")
    assert status == 200 and job_id in page
