"""The ml v1 routes' answers through the real client: 400/404/409 errors, list filter and paging, labels PATCH."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest
from googleapiclient.errors import HttpError
from support import make_job, ml_client, unique, upload, wait_for

PROJECT = "local-project"


def _error(err: pytest.ExceptionInfo[HttpError]) -> dict[str, Any]:
    return dict(json.loads(err.value.content)["error"])


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(jobId="9starts_with_digit"), "jobId"),
        (lambda b: b.update(jobId="has-dash"), "jobId"),
        (lambda b: b["trainingInput"].pop("region"), "region"),
        (lambda b: b["trainingInput"].pop("pythonModule"), "pythonModule"),
        (lambda b: b["trainingInput"].update(scaleTier="HUGE"), "scaleTier"),
        (lambda b: b["trainingInput"].update(scaleTier="CUSTOM"), "masterType"),
        (lambda b: b["trainingInput"].update(scheduling={"maxWaitTime": "60s"}), "maxWaitTime"),
        (lambda b: b["trainingInput"].update(workerCount="lots"), "workerCount"),
    ],
)
def test_invalid_job_is_rejected_with_400_naming_the_field(local_service: Any, mutate: Any, field: str) -> None:
    ml = ml_client(local_service.api_endpoint)
    body = make_job(unique("bad"), "gs://trainjobs-tests/packages/x.tar.gz")
    mutate(body)
    with pytest.raises(HttpError) as err:
        ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    error = _error(err)
    assert err.value.resp.status == 400 and error["status"] == "INVALID_ARGUMENT"
    assert field in error["message"]


def test_unknown_job_is_404(local_service: Any) -> None:
    ml = ml_client(local_service.api_endpoint)
    for call in (
        ml.projects().jobs().get(name=f"projects/{PROJECT}/jobs/no_such_job"),
        ml.projects().jobs().cancel(name=f"projects/{PROJECT}/jobs/no_such_job", body={}),
        ml.projects().jobs().patch(name=f"projects/{PROJECT}/jobs/no_such_job", updateMask="labels",
                                   body={"labels": {"a": "b"}}),
    ):
        with pytest.raises(HttpError) as err:
            call.execute()
        assert err.value.resp.status == 404 and _error(err)["status"] == "NOT_FOUND"
        assert "no_such_job" in _error(err)["message"]


def test_duplicate_job_id_is_409_and_cancel_of_finished_job_is_failed_precondition(
    local_service: Any, trainer_sdist: Path
) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    job_id = unique("dup")
    body = make_job(job_id, uri, ["--mode", "fail", "--exit-code", "1"])
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    with pytest.raises(HttpError) as err:
        ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    assert err.value.resp.status == 409 and _error(err)["status"] == "ALREADY_EXISTS"
    assert job_id in _error(err)["message"]

    assert wait_for(ml, PROJECT, job_id)["state"] == "FAILED"
    with pytest.raises(HttpError) as err:
        ml.projects().jobs().cancel(name=f"projects/{PROJECT}/jobs/{job_id}", body={}).execute()
    assert err.value.resp.status == 400 and _error(err)["status"] == "FAILED_PRECONDITION"
    assert "FAILED" in _error(err)["message"]


def test_list_filters_and_pages(local_service: Any, trainer_sdist: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    prefix = unique("lst")
    ids = [f"{prefix}_{i}" for i in range(5)]
    for i, job_id in enumerate(ids):
        mode = "fail" if i % 2 else "succeed"
        body = make_job(job_id, uri, ["--mode", mode], jobDir=f"gs://trainjobs-tests/jobs/{job_id}")
        body["labels"] = {"team": "red" if i < 3 else "blue"}
        ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    for job_id in ids:
        wait_for(ml, PROJECT, job_id)

    def listed(filter_: str, page_size: int = 100) -> list[str]:
        found, token, pages = [], None, 0
        while True:
            resp = ml.projects().jobs().list(parent=f"projects/{PROJECT}", filter=filter_, pageSize=page_size,
                                             pageToken=token).execute()
            pages += 1
            found += [j["jobId"] for j in resp.get("jobs", [])]
            token = resp.get("nextPageToken")
            if not token:
                return found

    assert listed(f"jobId:{prefix}*") == ids
    assert listed(f"jobId:{prefix}* AND state:FAILED") == [ids[1], ids[3]]
    assert listed(f"jobId:{prefix}* AND labels.team=blue") == ids[3:]
    assert listed(f"jobId:{prefix}* AND (state:FAILED OR labels.team=blue)") == [ids[1], ids[3], ids[4]]
    assert listed(f"jobId:{prefix}* AND NOT state:SUCCEEDED") == [ids[1], ids[3]]
    first = ml.projects().jobs().list(parent=f"projects/{PROJECT}", filter=f"jobId:{prefix}*", pageSize=2).execute()
    assert [j["jobId"] for j in first["jobs"]] == ids[:2] and first["nextPageToken"]
    assert listed(f"jobId:{prefix}*", page_size=2) == ids

    with pytest.raises(HttpError) as err:
        ml.projects().jobs().list(parent=f"projects/{PROJECT}", pageSize=101).execute()
    assert err.value.resp.status == 400 and "pageSize" in _error(err)["message"]
    with pytest.raises(HttpError) as err:
        ml.projects().jobs().list(parent=f"projects/{PROJECT}", filter="jobId:(").execute()
    assert err.value.resp.status == 400 and "filter" in _error(err)["message"]


def test_patch_labels_checks_etag(local_service: Any, trainer_sdist: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    job_id = unique("patch")
    created = ml.projects().jobs().create(parent=f"projects/{PROJECT}",
                                          body=make_job(job_id, uri, ["--mode", "fail"])).execute()
    name = f"projects/{PROJECT}/jobs/{job_id}"

    patched = ml.projects().jobs().patch(name=name, updateMask="labels",
                                         body={"labels": {"owner": "me"}, "etag": created["etag"]}).execute()
    assert patched["labels"] == {"owner": "me"} and patched["etag"] != created["etag"]
    assert ml.projects().jobs().get(name=name).execute()["labels"] == {"owner": "me"}

    with pytest.raises(HttpError) as err:
        ml.projects().jobs().patch(name=name, updateMask="labels",
                                   body={"labels": {"owner": "you"}, "etag": created["etag"]}).execute()
    assert err.value.resp.status == 409 and _error(err)["status"] == "ABORTED"
    with pytest.raises(HttpError) as err:
        ml.projects().jobs().patch(name=name, updateMask="trainingInput", body={"labels": {}}).execute()
    assert err.value.resp.status == 400 and "updateMask" in _error(err)["message"]
    wait_for(ml, PROJECT, job_id)


def test_negative_page_token_is_rejected(local_service: Any) -> None:
    ml = ml_client(local_service.api_endpoint)
    for token in ("-2", "abc"):
        with pytest.raises(HttpError) as err:
            ml.projects().jobs().list(parent=f"projects/{PROJECT}", pageToken=token).execute()
        assert err.value.resp.status == 400 and _error(err)["status"] == "INVALID_ARGUMENT"
        assert "pageToken" in _error(err)["message"] and token in _error(err)["message"]


def test_error_answers_keep_the_connection_usable(local_service: Any) -> None:
    """Every answer reads the request body first, so the next request on the same keep-alive connection
    is parsed from the right place; unsupported verbs answer Google's JSON error, not stdlib HTML."""
    host, port = local_service.api_endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    body = json.dumps({"labels": {"a": "b"}, "padding": "x" * 2000})
    headers = {"Content-Type": "application/json"}
    asked = [
        ("POST", "/v1/projects/local-project/nowhere", 404),
        ("PUT", f"/v1/projects/{PROJECT}/jobs", 404),
        ("DELETE", f"/v1/projects/{PROJECT}/jobs/some_job", 404),
        ("PUT", f"/v1/projects/{PROJECT}/jobs/some_job:cancel", 404),
        ("POST", "/admin/nothing", 404),
        ("PUT", "/admin/faults", 404),
        ("PATCH", f"/v1/projects/{PROJECT}/locations/us-central1/customJobs", 404),
    ]
    try:
        for method, path, code in asked:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            answer = json.loads(resp.read())
            assert resp.status == code, (method, path, answer)
            assert set(answer["error"]) == {"code", "message", "status"} and answer["error"]["code"] == code
            assert answer["error"]["status"] == "NOT_FOUND"
            conn.request("GET", "/healthz")  # same connection: still in step
            health = conn.getresponse()
            assert health.status == 200 and json.loads(health.read())["status"] == "ok"
    finally:
        conn.close()
