"""Jobs through the real ml v1 client: success with a model in the job dir, failure with exit code and stderr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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

PROJECT = "local-project"


def test_trainer_succeeds_and_writes_model_to_job_dir(local_service: Any, trainer_sdist: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
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


def test_failing_trainer_reports_exit_code_and_stderr_tail(local_service: Any, trainer_sdist: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    job_id = unique("fail")
    ml.projects().jobs().create(
        parent=f"projects/{PROJECT}", body=make_job(job_id, uri, ["--mode", "fail", "--exit-code", "3"])
    ).execute()

    job = wait_for(ml, PROJECT, job_id)

    assert job["state"] == "FAILED"
    assert "non-zero status of 3" in job["errorMessage"]
    assert "ValueError: boom: bad training data" in job["errorMessage"]


def test_logs_reach_cloud_logging_entries_list(local_service: Any, trainer_sdist: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    logging = logging_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    job_id = unique("logs")
    ml.projects().jobs().create(
        parent=f"projects/{PROJECT}",
        body=make_job(job_id, uri, ["--mode", "succeed"], jobDir=f"gs://trainjobs-tests/jobs/{job_id}"),
    ).execute()
    wait_for(ml, PROJECT, job_id)
    base = f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"'

    entries = list_log_entries(logging, job_id, orderBy="timestamp asc", pageSize=3)

    by_message = {e["jsonPayload"]["message"]: e for e in entries}
    assert by_message["training started"]["severity"] == "INFO"
    assert by_message["training started"]["labels"]["task_name"] == "master-replica-0"
    assert by_message["WARNING: a warning on stderr"]["severity"] == "WARNING"
    assert by_message["Job completed successfully."]["labels"]["task_name"] == "service"
    assert entries[0]["resource"] == {"type": "ml_job", "labels": {"job_id": job_id, "project_id": PROJECT,
                                                                   "task_name": "service"}}
    stamps = [e["timestamp"] for e in entries]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert len({e["insertId"] for e in entries}) == len(entries)

    cut = by_message["training started"]["timestamp"]
    later = logging.entries().list(body={"resourceNames": [f"projects/{PROJECT}"],
                                         "filter": f'{base} AND timestamp>"{cut}"'}).execute()["entries"]
    assert [e["timestamp"] for e in later] == [s for s in stamps if s > cut]


def test_second_job_with_same_package_skips_install(local_service: Any, trainer_sdist: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    logging = logging_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    ids = [unique("cache_a"), unique("cache_b")]
    for job_id in ids:
        ml.projects().jobs().create(
            parent=f"projects/{PROJECT}",
            body=make_job(job_id, uri, ["--mode", "succeed"], jobDir=f"gs://trainjobs-tests/jobs/{job_id}"),
        ).execute()
        assert wait_for(ml, PROJECT, job_id)["state"] == "SUCCEEDED"
    second = logging.entries().list(body={
        "resourceNames": [f"projects/{PROJECT}"],
        "filter": f'resource.type="ml_job" AND resource.labels.job_id="{ids[1]}"'}).execute()["entries"]
    assert any("already installed; reusing it" in e["jsonPayload"]["message"] for e in second)


def _messages(service: Any, job_id: str) -> list[tuple[str, str, str]]:
    """(severity, task_name, message) of every log entry of the job."""
    entries = list_log_entries(logging_client(service.api_endpoint), job_id)
    return [(e["severity"], e["labels"]["task_name"], e["jsonPayload"]["message"]) for e in entries]


def test_runtime_and_python_versions_are_recorded_with_a_log_line(local_service: Any, trainer_sdist: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    job_id = unique("runtime")
    body = make_job(job_id, uri, ["--mode", "tiny"], runtimeVersion="2.11", pythonVersion="3.7")

    job = ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    assert wait_for(ml, PROJECT, job_id)["state"] == "SUCCEEDED"

    assert job["trainingInput"]["runtimeVersion"] == "2.11" and job["trainingInput"]["pythonVersion"] == "3.7"
    lines = [m for _, task, m in _messages(local_service, job_id) if task == "service"]
    assert any(m.startswith("runtimeVersion 2.11 recorded") and "own interpreter" in m for m in lines), lines
    assert any(m.startswith("pythonVersion 3.7 recorded") and "own interpreter" in m for m in lines), lines


def test_a_line_longer_than_cloud_loggings_limit_is_cut_and_marked(local_service: Any, trainer_sdist: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    job_id = unique("longline")
    ml.projects().jobs().create(parent=f"projects/{PROJECT}",
                                body=make_job(job_id, uri, ["--mode", "longline"])).execute()
    assert wait_for(ml, PROJECT, job_id)["state"] == "SUCCEEDED"

    trainer = [m for _, task, m in _messages(local_service, job_id) if task == "master-replica-0"]
    assert len(trainer) == 2, [m[:40] for m in trainer]
    long_line, after = trainer
    assert len(long_line.encode()) <= 256 * 1024 and long_line.startswith("xxxx")
    assert long_line.endswith("[truncated: the line was longer than 256 KB]")
    assert after == "after the long line"
