"""Distributed tiers and custom containers through the real client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support import make_job, ml_client, storage_client, unique, upload, wait_for

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

    ml = ml_client(local_service.api_endpoint)
    job_id = unique("container")
    body = {"jobId": job_id, "trainingInput": {"scaleTier": "CUSTOM", "masterType": "n1-standard-4",
                                               "region": "us-central1",
                                               "masterConfig": {"imageUri": "gcr.io/p/trainer:1"}}}
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    job = wait_for(ml, PROJECT, job_id)
    if docker_available()[0]:  # an engine answers here: the service really runs docker
        assert job["state"] in ("FAILED", "SUCCEEDED")
        return
    assert job["state"] == "FAILED"
    assert "Docker engine" in job["errorMessage"] and "gcr.io/p/trainer:1" in job["errorMessage"]
