"""Jobs through the real ml v1 client: success with a model in the job dir, failure with exit code and stderr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local_service_helpers import make_job, ml_client, storage_client, unique, upload, wait_for

PROJECT = "local-project"


def test_trainer_succeeds_and_writes_model_to_job_dir(local_service: Any, toolbox_sdist: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, toolbox_sdist)
    job_id = unique("ok")
    job_dir = f"gs://trainjobs-tests/jobs/{job_id}"
    created = ml.projects().jobs().create(
        parent=f"projects/{PROJECT}", body=make_job(job_id, uri, ["--mode", "succeed", "--extra=1"], jobDir=job_dir)
    ).execute()
    assert created["state"] == "QUEUED"
    assert created["jobId"] == job_id and created["createTime"].endswith("Z")

    job = wait_for(ml, PROJECT, job_id)

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    assert job["startTime"] <= job["endTime"]
    blob = storage_client(local_service.storage_endpoint).bucket("trainjobs-tests").blob(f"jobs/{job_id}/model/model.json")
    model = json.loads(blob.download_as_text())
    assert model == {"job": job_id, "project": PROJECT, "unknown": ["--extra=1"]}
