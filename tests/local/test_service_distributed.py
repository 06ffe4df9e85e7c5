"""Distributed tiers and custom containers through the real client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import (
    list_log_entries,
    logging_client,
    make_job,
    ml_client,
    storage_client,
    unique,
    upload,
    wait_for,
)

from airflow_provider_trainjobs.local.cluster import plan_replicas
from airflow_provider_trainjobs.local.launcher import ServiceProcess, serving

PROJECT = "local-project"


def _tf_configs(storage_endpoint: str, job_id: str) -> dict[str, dict[str, Any]]:
    blobs = storage_client(storage_endpoint).list_blobs("trainjobs-tests", prefix=f"jobs/{job_id}/tfconfig/")
    return {Path(b.name).stem: json.loads(b.download_as_text()) for b in blobs}


def test_three_replica_custom_job_sees_one_consistent_tf_config(local_service: Any, trainer_sdist: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    job_id = unique("dist")
    body = make_job(job_id, uri, ["--mode", "tfconfig"], jobDir=f"gs://trainjobs-tests/jobs/{job_id}",
                    scaleTier="CUSTOM", masterType="n1-standard-4", workerType="n1-standard-4", workerCount="1",
                    parameterServerType="n1-standard-4", parameterServerCount="1")
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()

    job = wait_for(ml, PROJECT, job_id)

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")  # the ps never exits: it is stopped
    configs = _tf_configs(local_service.storage_endpoint, job_id)
    assert sorted(configs) == ["master-0", "ps-0", "worker-0"]
    clusters = [c["cluster"] for c in configs.values()]
    assert all(c == clusters[0] for c in clusters)
    assert sorted(clusters[0]) == ["master", "ps", "worker"]
    addresses = [a for pool in clusters[0].values() for a in pool]
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    for name, config in configs.items():
        kind, index = name.split("-")
        assert config["task"] == {"type": kind, "index": int(index)}
        assert config["environment"] == "cloud"
        assert config["job"]["workerCount"] == "1" and config["job"]["pythonModule"] == "toolbox.task"


def test_use_chief_in_tf_config_names_the_primary_chief(local_service: Any, trainer_sdist: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    job_id = unique("chief")
    body = make_job(job_id, uri, ["--mode", "tfconfig"], jobDir=f"gs://trainjobs-tests/jobs/{job_id}",
                    scaleTier="CUSTOM", masterType="n1-standard-4", useChiefInTfConfig=True)
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    assert wait_for(ml, PROJECT, job_id)["state"] == "SUCCEEDED"
    configs = _tf_configs(local_service.storage_endpoint, job_id)
    assert list(configs) == ["chief-0"] and list(configs["chief-0"]["cluster"]) == ["chief"]


def test_custom_container_without_docker_engine_fails_at_once(local_service: Any) -> None:
    from airflow_provider_trainjobs.local.cluster import docker_available

    if docker_available()[0]:
        pytest.skip("a Docker engine answers here: the job would pull gcr.io/p/trainer:1 from the network")
    ml = ml_client(local_service.api_endpoint)
    job_id = unique("container")
    body = {"jobId": job_id, "trainingInput": {"scaleTier": "CUSTOM", "masterType": "n1-standard-4",
                                               "region": "us-central1",
                                               "masterConfig": {"imageUri": "gcr.io/p/trainer:1"}}}
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    job = wait_for(ml, PROJECT, job_id)
    assert job["state"] == "FAILED"
    assert "needs a container engine (Docker or podman) and none answers" in job["errorMessage"]
    assert "gcr.io/p/trainer:1" in job["errorMessage"] and "masterConfig.imageUri" in job["errorMessage"]


def test_a_failing_worker_fails_the_job(local_service: Any, trainer_sdist: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    job_id = unique("workerfail")
    body = make_job(job_id, uri, ["--mode", "workerfail", "--exit-code", "6"], scaleTier="CUSTOM",
                    masterType="n1-standard-4", workerType="n1-standard-4", workerCount="1")
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()

    job = wait_for(ml, PROJECT, job_id)

    assert job["state"] == "FAILED"  # the master was still sleeping: it is stopped
    assert job["errorMessage"].startswith("The replica worker 0 exited with a non-zero status of 6.")
    assert "ValueError: worker failed on purpose" in job["errorMessage"]


@pytest.fixture(scope="module")
def capped_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with serving(tmp_path_factory.mktemp("capped") / "data", "--max-replicas", "3") as service:
        yield service


def test_max_replicas_caps_a_tier_keeping_a_parameter_server(capped_service: ServiceProcess,
                                                              trainer_sdist: Path) -> None:
    ml = ml_client(capped_service.api_endpoint)
    uri = upload(capped_service.storage_endpoint, trainer_sdist)
    job_id = unique("capped")
    body = make_job(job_id, uri, ["--mode", "tfconfig"], jobDir=f"gs://trainjobs-tests/jobs/{job_id}",
                    scaleTier="PREMIUM_1")
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()

    job = wait_for(ml, PROJECT, job_id)

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    configs = _tf_configs(capped_service.storage_endpoint, job_id)
    assert sorted(configs) == ["master-0", "ps-0", "worker-0"]
    assert {k: len(v) for k, v in configs["master-0"]["cluster"].items()} == {"master": 1, "worker": 1, "ps": 1}
    entries = list_log_entries(logging_client(capped_service.api_endpoint), job_id)
    warnings = [e["jsonPayload"]["message"] for e in entries if e["severity"] == "WARNING"]
    assert len(warnings) == 1 and "--max-replicas" in warnings[0]
    assert "31 replicas (19 workers, 11 parameter servers, 0 evaluators)" in warnings[0]
    assert "at most 3" in warnings[0] and "starting 1 workers, 1 parameter servers, 0 evaluators" in warnings[0]


@pytest.mark.parametrize(
    ("training", "budget", "kept"),
    [
        ({"scaleTier": "PREMIUM_1"}, 8, {"master": 1, "worker": 6, "ps": 1}),
        ({"scaleTier": "STANDARD_1"}, 5, {"master": 1, "worker": 3, "ps": 1}),
        ({"scaleTier": "CUSTOM", "workerCount": "9", "parameterServerCount": "3", "evaluatorCount": "2"}, 4,
         {"master": 1, "worker": 1, "ps": 1, "evaluator": 1}),
        ({"scaleTier": "CUSTOM", "workerCount": "9", "parameterServerCount": "3", "evaluatorCount": "2"}, 12,
         {"master": 1, "worker": 9, "ps": 1, "evaluator": 1}),
        ({"scaleTier": "CUSTOM", "workerCount": "2", "parameterServerCount": "4"}, 6,
         {"master": 1, "worker": 2, "ps": 3}),
        ({"scaleTier": "CUSTOM", "workerCount": "2"}, 1, {"master": 1}),
    ],
)
def test_replica_cap_keeps_one_parameter_server_and_evaluator_then_fills_workers(
    training: dict[str, Any], budget: int, kept: dict[str, int]
) -> None:
    plans, note = plan_replicas(training, budget)
    counts: dict[str, int] = {}
    for plan in plans:
        counts[plan.task_type] = counts.get(plan.task_type, 0) + 1
    assert counts == kept
    assert note is not None and f"at most {budget}" in note
