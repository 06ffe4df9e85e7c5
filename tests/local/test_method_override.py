"""``X-HTTP-Method-Override: GET`` on the local service: googleapiclient turns a GET whose URI passes 2 KB
into a form-encoded POST carrying the query string; the service answers it as that GET, through the same
routes, guards and limits, and refuses every other use of the header (no 500, no traceback)."""

from __future__ import annotations

import http.client
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import test_cross_origin
from googleapiclient.http import MAX_URI_LENGTH
from support import ml_client, tiny_job, unique, upload
from support.browser import find_chromium, run_chromium
from support.raw_http import Answer, host_port, parse_raw, raw_exchange, request
from test_hostile_http import _refused
from test_vertex_routes import vertex_client

from airflow_provider_trainjobs.local.launcher import LOCAL_PROJECT, ServiceProcess, serving

JOBS = f"/v1/projects/{LOCAL_PROJECT}/jobs"
PARENT = f"projects/{LOCAL_PROJECT}/locations/us-central1"
IMAGE = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-8:latest"
attacker_page = test_cross_origin.attacker_page  # the page server fixture of the browser checks
FORM = {"Content-Type": "application/x-www-form-urlencoded", "X-HTTP-Method-Override": "GET"}


def _long_or(field: str, wanted: list[str], length: int = 6000) -> str:
    """An OR filter over ``wanted`` padded with ids that match nothing, longer than ``length`` characters."""
    terms = [f'{field}="{name}"' for name in wanted]
    while len(" OR ".join(terms)) < length:
        terms.append(f'{field}="{unique("no_such_job_with_a_long_name")}"')
    return " OR ".join(terms)


@pytest.fixture(scope="module")
def package(local_service: Any, trainer_sdist: Any) -> str:
    return upload(local_service.storage_endpoint, trainer_sdist)


def test_a_long_ml_list_filter_is_sent_as_a_post_and_answered_as_the_get(local_service: Any, package: str) -> None:
    ml = ml_client(local_service.api_endpoint)
    ids = [unique(f"override_ml_{n}") for n in range(3)]
    for job_id in ids:
        ml.projects().jobs().create(parent=f"projects/{LOCAL_PROJECT}", body=tiny_job(job_id, package)).execute()
    filter_ = _long_or("jobId", ids)
    listing = ml.projects().jobs().list(parent=f"projects/{LOCAL_PROJECT}", filter=filter_, pageSize=100)
    assert len(listing.uri) > MAX_URI_LENGTH  # googleapiclient will POST it with the override
    answer = listing.execute()
    assert sorted(j["jobId"] for j in answer.get("jobs", [])) == sorted(ids)
    paged = ml.projects().jobs().list(parent=f"projects/{LOCAL_PROJECT}", filter=filter_, pageSize=2).execute()
    assert len(paged["jobs"]) == 2 and paged.get("nextPageToken")  # the query's pageSize was read from the body


def _vertex_pool(package: str) -> list[dict[str, Any]]:
    spec = {"executorImageUri": IMAGE, "packageUris": [package], "pythonModule": "toolbox.task",
            "args": ["--lines", "1"]}
    return [{"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1", "pythonPackageSpec": spec}]


def test_long_vertex_list_filters_are_answered_as_the_get(local_service: Any, package: str) -> None:
    vertex = vertex_client(local_service.api_endpoint)
    jobs = vertex.projects().locations()
    names = [unique(f"override_custom_{n}") for n in range(2)]
    for name in names:
        jobs.customJobs().create(parent=PARENT, body={
            "displayName": name, "jobSpec": {"workerPoolSpecs": _vertex_pool(package)}}).execute()
    tuning = unique("override_tuning")
    jobs.hyperparameterTuningJobs().create(parent=PARENT, body={
        "displayName": tuning, "maxTrialCount": 1, "parallelTrialCount": 1,
        "studySpec": {"metrics": [{"metricId": "loss", "goal": "MINIMIZE"}],
                      "parameters": [{"parameterId": "lr", "doubleValueSpec": {"minValue": 0.1, "maxValue": 0.2}}]},
        "trialJobSpec": {"workerPoolSpecs": _vertex_pool(package)}}).execute()

    custom = jobs.customJobs().list(parent=PARENT, filter=_long_or("display_name", names), pageSize=100)
    assert len(custom.uri) > MAX_URI_LENGTH
    assert sorted(j["displayName"] for j in custom.execute().get("customJobs", [])) == sorted(names)
    tuned = jobs.hyperparameterTuningJobs().list(parent=PARENT, filter=_long_or("display_name", [tuning]))
    assert len(tuned.uri) > MAX_URI_LENGTH
    assert [j["displayName"] for j in tuned.execute().get("hyperparameterTuningJobs", [])] == [tuning]


# -- the guard: every other use of the header is refused, the security model is unchanged ------------------

MAX_REQUEST = 64 * 1024


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """A service of its own with a 64 KiB body cap, so the caps can be hit cheaply."""
    with serving(tmp_path_factory.mktemp("override") / "data", "--max-request-bytes", str(MAX_REQUEST),
                 "--max-concurrent-jobs", "0") as service:
        yield service


@pytest.fixture(scope="module")
def small_jobs(small: ServiceProcess) -> list[str]:
    ml = ml_client(small.api_endpoint)
    ids = [f"override_small_{n}" for n in range(3)]
    for job_id in ids:
        ml.projects().jobs().create(parent=f"projects/{LOCAL_PROJECT}",
                                    body=tiny_job(job_id, "gs://no-such-bucket/none.tar.gz")).execute()
    return ids


def _post(service: ServiceProcess, body: bytes | str, path: str = JOBS, **headers: str) -> Answer:
    return request(service.api_endpoint, "POST", path, body, {**FORM, **headers})


def _same(left: Answer, right: Answer) -> None:
    assert (left.status, left.json()) == (right.status, right.json()), (left.body[:300], right.body[:300])


@pytest.mark.parametrize("value", ["DELETE", "PATCH", "PUT", "POST", "get", "GET, DELETE", "", "HEAD", "G" * 5000])
def test_an_override_to_anything_but_get_is_refused(small: ServiceProcess, small_jobs: list[str], value: str) -> None:
    _refused(_post(small, "pageSize=1", f"{JOBS}/{small_jobs[0]}", **{"X-HTTP-Method-Override": value}),
             400, "X-HTTP-Method-Override", "only GET")
    assert request(small.api_endpoint, "GET", f"{JOBS}/{small_jobs[0]}").status == 200  # not deleted


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_the_override_on_any_method_but_post_is_refused(small: ServiceProcess, small_jobs: list[str],
                                                        method: str) -> None:
    answer = request(small.api_endpoint, method, f"{JOBS}/{small_jobs[0]}", "pageSize=1", FORM)
    _refused(answer, 400, "X-HTTP-Method-Override", "only a POST", method)
    assert request(small.api_endpoint, "GET", f"{JOBS}/{small_jobs[0]}").status == 200


@pytest.mark.parametrize("kind", ["application/json", "text/plain", "multipart/form-data; boundary=x", None])
def test_an_override_with_a_body_that_is_not_a_form_is_refused(small: ServiceProcess, kind: str | None) -> None:
    job_id = unique("override_json_create")
    body = json.dumps(tiny_job(job_id, "gs://no-such-bucket/none.tar.gz"))
    host, port = host_port(small.api_endpoint)
    head = f"POST {JOBS} HTTP/1.1\r\nHost: {host}:{port}\r\nX-HTTP-Method-Override: GET\r\n"
    head += f"Content-Type: {kind}\r\n" if kind else ""
    answer = parse_raw(raw_exchange(small.api_endpoint, f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode()))
    _refused(answer, 415, "application/x-www-form-urlencoded", "X-HTTP-Method-Override")
    assert request(small.api_endpoint, "GET", f"{JOBS}/{job_id}").status == 404  # the body created nothing


def test_a_form_post_without_the_override_is_still_refused(small: ServiceProcess) -> None:
    _refused(request(small.api_endpoint, "POST", JOBS, "pageSize=1", {"Content-Type": FORM["Content-Type"]}),
             415, "application/json")


def test_an_oversize_form_body_is_refused_unread(small: ServiceProcess) -> None:
    host, port = host_port(small.api_endpoint)
    head = (f"POST {JOBS} HTTP/1.1\r\nHost: {host}:{port}\r\nX-HTTP-Method-Override: GET\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {MAX_REQUEST + 1}\r\n\r\n")
    _refused(parse_raw(raw_exchange(small.api_endpoint, head.encode() + b"filter=")), 413, str(MAX_REQUEST))


def test_the_filter_limit_holds_in_a_form_body(small: ServiceProcess) -> None:
    filter_ = " OR ".join(f'jobId="x{n:06d}"' for n in range(2000))
    assert 20_000 < len(filter_) and len(urlencode({"filter": filter_})) < MAX_REQUEST
    _refused(_post(small, urlencode({"filter": filter_})), 400, "filter", "20000")
    _refused(_post(small, "&".join(f"k{n}=v" for n in range(1001))), 400, "parameters")


@pytest.mark.parametrize("query", [
    "filter=%zz%&pageSize=%", "pageSize=1&pageSize=2", "pageSize=2&pageSize=1", "filter=jobId%3D%22override_small_1%22",
    "filter=%FF%FE&pageSize=1", "filter=%00", "pageSize=abc", "pageSize=-1", "pageToken=%22%22", "=&&=&",
    "filter=jobId%3Doverride_small_0+OR+jobId%3Doverride_small_2;pageSize=1", "a" * 3000, "pageSize=1&" * 50,
])
def test_the_override_answers_exactly_what_the_get_answers(small: ServiceProcess, small_jobs: list[str],
                                                           query: str) -> None:
    _same(_post(small, query), request(small.api_endpoint, "GET", f"{JOBS}?{query}"))


def test_the_url_query_and_the_form_body_are_read_as_one_query(small: ServiceProcess, small_jobs: list[str]) -> None:
    both = _post(small, "pageSize=2", f"{JOBS}?filter=jobId%3Aoverride_small_*&pageSize=1")
    _same(both, request(small.api_endpoint, "GET", f"{JOBS}?filter=jobId%3Aoverride_small_*&pageSize=1&pageSize=2"))
    assert len(both.json()["jobs"]) == 2  # the body's pageSize came last, as it would in one URL
    _same(_post(small, "", f"{JOBS}/{small_jobs[0]}"), request(small.api_endpoint, "GET", f"{JOBS}/{small_jobs[0]}"))


def test_binary_and_random_form_bodies_never_get_a_5xx(small: ServiceProcess, small_jobs: list[str]) -> None:
    rng = random.Random(20261202)
    paths = [JOBS, f"{JOBS}/{small_jobs[0]}", f"{JOBS}/{small_jobs[0]}:cancel", "/v1/projects/p/locations/x/customJobs",
             f"/v1/projects/{LOCAL_PROJECT}/locations/us-central1/hyperparameterTuningJobs", "/v2/entries:list",
             "/admin/faults", "/console/jobs/x", "/healthz", "/nope"]
    alphabet = "=&%;+aZ09\"'()*:/\\ ~"
    for _ in range(300):
        if rng.random() < 0.4:
            body = bytes(rng.randrange(256) for _ in range(rng.randint(1, 400)))
        else:
            body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400))).encode()
        answer = _post(small, body, rng.choice(paths))
        assert answer.status < 500 and b"Traceback" not in answer.body, (body[:100], answer.body[:300])
        if answer.status >= 400 and answer.headers["content-type"].startswith("application/json"):
            assert answer.error()
    assert request(small.api_endpoint, "GET", "/healthz").status == 200


def test_one_keep_alive_connection_serves_the_next_request_after_an_override(small: ServiceProcess,
                                                                             small_jobs: list[str]) -> None:
    conn = http.client.HTTPConnection(*host_port(small.api_endpoint), timeout=30)
    try:
        for _ in range(3):
            conn.request("POST", JOBS, body=b"pageSize=1&filter=" + b"+" * 3000, headers=FORM)
            first = conn.getresponse()
            assert first.status == 200 and len(json.loads(first.read())["jobs"]) == 1
            conn.request("GET", f"{JOBS}/{small_jobs[1]}")
            second = conn.getresponse()
            assert second.status == 200 and json.loads(second.read())["jobId"] == small_jobs[1]
    finally:
        conn.close()


@pytest.mark.parametrize("headers", [
    {"Origin": "http://127.0.0.1:1"}, {"Origin": "null"}, {"Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"}, {"Host": "evil.example:80"},
])
def test_a_foreign_caller_cannot_read_through_the_override(small: ServiceProcess, small_jobs: list[str],
                                                           headers: dict[str, str]) -> None:
    answer = _post(small, "pageSize=100", **headers)
    _refused(answer, 403)
    assert b"override_small" not in answer.body


FETCHES = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>attacker</title></head><body>
<p id="result">not run</p>
<script>
const url = %(url)s, headers = {"X-HTTP-Method-Override": "GET", "Content-Type": "application/x-www-form-urlencoded"};
Promise.all([
  fetch(url, {method: "POST", headers: headers, body: "pageSize=100"}).then(r => r.text(), e => "error"),
  fetch(url, {method: "POST", mode: "no-cors", headers: headers, body: "pageSize=100"}).then(r => r.type, e => "error"),
]).then(kinds => { document.getElementById("result").textContent = "sent: " + kinds.join(","); });
</script></body></html>"""
FORM_POST = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>attacker</title></head><body>
<form id="f" method="post" action=%(url)s><input name="pageSize" value="100">
<input name="X-HTTP-Method-Override" value="GET"></form>
<script>document.getElementById("f").submit();</script></body></html>"""


def test_a_page_elsewhere_cannot_read_jobs_through_the_override(
    tmp_path: Path, local_service: Any, attacker_page: tuple[str, dict[str, str]],
) -> None:
    """The header needs a CORS preflight (refused), a no-cors fetch drops it (and is refused by its Origin),
    and a form the page submits navigates to the service's refusal, not to a job list."""
    browser = find_chromium()
    ml = ml_client(local_service.api_endpoint)
    ml.projects().jobs().create(parent=f"projects/{LOCAL_PROJECT}",
                                body=tiny_job(unique("override_secret"), "gs://no-such-bucket/none.tar.gz")).execute()
    api = f"{local_service.api_endpoint}{JOBS}"
    url, content = attacker_page

    content["html"] = FETCHES % {"url": json.dumps(api)}
    dom = run_chromium(browser, tmp_path, "--virtual-time-budget=20000", "--dump-dom", url).stdout
    assert "sent: error,opaque" in dom  # the preflight was refused; the no-cors answer is unreadable

    content["html"] = FORM_POST % {"url": json.dumps(api)}
    dom = run_chromium(browser, tmp_path, "--virtual-time-budget=20000", "--dump-dom", url).stdout
    assert "cross-origin requests are refused" in dom and "override_secret" not in dom
