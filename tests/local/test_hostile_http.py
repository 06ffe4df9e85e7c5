"""The local service under hostile HTTP (issue 10): callers it refuses, limits, malformed requests, fuzz.

Every refusal is a 4xx in Google's error shape without Python traceback text, and the service stays
healthy afterwards. A dedicated service runs with small limits so the caps can be hit cheaply.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import socket
import stat
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support import make_job
from support.raw_http import Answer, host_port, parse_raw, raw_exchange, request

from airflow_provider_trainjobs.local.launcher import ServiceProcess, serving

PROJECT = "local-project"
JOBS = f"/v1/projects/{PROJECT}/jobs"
VERTEX = f"/v1/projects/{PROJECT}/locations/us-central1/customJobs"
UPLOAD = "/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}"
MAX_REQUEST = 512 * 1024
MAX_UPLOAD = 200_000


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    data_dir = tmp_path_factory.mktemp("hostile") / "data"
    with serving(data_dir, "--max-request-bytes", str(MAX_REQUEST), "--max-upload-bytes", str(MAX_UPLOAD),
                 "--read-timeout", "2") as service:
        yield service


def _admin(service: ServiceProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {service.admin_token}"}


def _refused(answer: Answer, code: int, *words: str) -> dict[str, Any]:
    """``answer`` is Google's error ``code`` naming ``words``, with no Python internals in it."""
    assert answer.status == code, (answer.status, answer.body[:300])
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.error()
    for word in words:
        assert word in error["message"], error
    assert b"Traceback" not in answer.body and b'File "' not in answer.body
    return error


def _healthy(service: ServiceProcess) -> None:
    answer = request(service.api_endpoint, "GET", "/healthz")
    assert answer.status == 200 and answer.json()["status"] == "ok"


def _job_exists(service: ServiceProcess, job_id: str) -> bool:
    return request(service.api_endpoint, "GET", f"{JOBS}/{job_id}").status == 200


def _job(job_id: str) -> dict[str, Any]:
    return make_job(job_id, "gs://trainjobs-tests/packages/x.tar.gz")


# -- who may call -----------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:{port}", "127.0.0.1:1", "127.0.0.2:{port}",
                                  "localhost.attacker.example:{port}", ""])
@pytest.mark.parametrize("surface", ["api", "storage"])
def test_a_host_that_is_not_this_service_is_refused(hostile: ServiceProcess, host: str, surface: str) -> None:
    endpoint = hostile.api_endpoint if surface == "api" else hostile.storage_endpoint
    name = host.format(port=host_port(endpoint)[1])
    paths = ["/healthz", JOBS, "/console/jobs/x", "/admin/faults"] if surface == "api" else ["/storage/v1/b"]
    for path in paths:
        _refused(request(endpoint, "GET", path, headers={"Host": name}), 403, "Host")


def test_loopback_names_with_the_port_are_served(hostile: ServiceProcess) -> None:
    port = host_port(hostile.api_endpoint)[1]
    for name in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
        assert request(hostile.api_endpoint, "GET", "/healthz", headers={"Host": name}).status == 200


def test_a_request_without_host_is_refused(hostile: ServiceProcess) -> None:
    for endpoint in (hostile.api_endpoint, hostile.storage_endpoint):
        answer = parse_raw(raw_exchange(endpoint, b"GET /healthz HTTP/1.0\r\n\r\n"))
        _refused(answer, 403, "Host")


@pytest.mark.parametrize("origin", ["http://127.0.0.1:1", "null", "http://attacker.example", "https://127.0.0.1:{port}",
                                    "http://127.0.0.1:{port}/path", "http://evil.example:{port}"])
def test_a_foreign_origin_cannot_create_a_job_or_upload(hostile: ServiceProcess, origin: str) -> None:
    job_id = f"origin_{abs(hash(origin))}"
    api_origin = origin.format(port=host_port(hostile.api_endpoint)[1])
    _refused(request(hostile.api_endpoint, "POST", JOBS, json.dumps(_job(job_id)), {"Origin": api_origin}),
             403, "Origin")
    assert not _job_exists(hostile, job_id)
    storage_origin = origin.format(port=host_port(hostile.storage_endpoint)[1])
    _refused(request(hostile.storage_endpoint, "POST", UPLOAD.format(bucket="b-origin", name="x"), b"data",
                     {"Origin": storage_origin, "Content-Type": "text/plain"}), 403, "Origin")


def test_the_service_own_origin_is_accepted(hostile: ServiceProcess) -> None:
    answer = request(hostile.api_endpoint, "GET", JOBS, headers={"Origin": hostile.api_endpoint})
    assert answer.status == 200


def test_other_sites_pages_are_refused_but_may_open_the_console(hostile: ServiceProcess) -> None:
    fetched = {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}
    _refused(request(hostile.api_endpoint, "GET", JOBS, headers=fetched), 403, "Sec-Fetch-Site")
    _refused(request(hostile.storage_endpoint, "GET", "/storage/v1/b", headers=fetched), 403, "Sec-Fetch-Site")
    link = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    page = request(hostile.api_endpoint, "GET", "/console/jobs/no_such_job", headers=link)
    assert page.status == 404 and page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/jsonp", ""])
def test_mutations_with_a_body_must_be_json(hostile: ServiceProcess, content_type: str) -> None:
    job_id = f"ctype_{abs(hash(content_type))}"
    headers = {"Content-Type": content_type} if content_type else {"Content-Type": ""}
    for path in (JOBS, "/admin/faults", "/v2/entries:list", VERTEX):
        _refused(request(hostile.api_endpoint, "POST", path, json.dumps(_job(job_id)), headers), 415, "Content-Type")
    assert not _job_exists(hostile, job_id)


def test_admin_needs_the_token_from_the_data_dir(hostile: ServiceProcess) -> None:
    token_file = hostile.data_dir / "admin-token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    for method, body in (("GET", None), ("POST", json.dumps({"latency": 3}))):
        _refused(request(hostile.api_endpoint, method, "/admin/faults", body), 401, "Bearer")
        _refused(request(hostile.api_endpoint, method, "/admin/faults", body,
                         {"Authorization": "Bearer not-the-token"}), 403, "token")
    answer = request(hostile.api_endpoint, "GET", "/admin/faults", headers=_admin(hostile))
    assert answer.status == 200 and answer.json()["latency"] == 0.0


def test_pages_forbid_scripts_and_sniffing(hostile: ServiceProcess) -> None:
    page = request(hostile.api_endpoint, "GET", "/console/jobs/no_such_job")
    assert page.headers["x-content-type-options"] == "nosniff"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "frame-ancestors 'none'" in policy
    assert request(hostile.api_endpoint, "GET", JOBS).headers["x-content-type-options"] == "nosniff"


# -- paths stay under the data dir -------------------------------------------------------------------

@pytest.mark.parametrize("project", ["..", ".", "%2e%2e", "%00", "a%00b", "x" * 300, "UPPER-case",
                                     "ab", "-leading", "trailing-"])
def test_a_project_that_is_not_a_project_id_is_refused(hostile: ServiceProcess, project: str) -> None:
    shown = project.replace("%2e", ".").replace("%00", "\x00")[:10]
    before = sorted(p.name for p in hostile.data_dir.parent.iterdir())
    body = json.dumps(_job("escape_job"))
    for method, path, field in (("POST", f"/v1/projects/{project}/jobs", "parent"),
                                ("GET", f"/v1/projects/{project}/jobs/escape_job", "name"),
                                ("POST", f"/v1/projects/{project}/locations/us-central1/customJobs", "parent"),
                                ("GET", f"/console/jobs/escape_job?project={project}", "project")):
        error = _refused(request(hostile.api_endpoint, method, path, body if method == "POST" else None), 400,
                         f"{field}:", "project id")
        assert shown.replace("\x00", "") in error["message"].replace("\\x00", "") or len(project) > 64
    entries = {"resourceNames": [f"projects/{project}"], "filter": 'resource.labels.job_id="escape_job"'}
    _refused(request(hostile.api_endpoint, "POST", "/v2/entries:list", json.dumps(entries)), 400,
             "resourceNames[0]")
    assert sorted(p.name for p in hostile.data_dir.parent.iterdir()) == before


def test_a_bucket_name_that_could_leave_the_storage_dir_is_refused(hostile: ServiceProcess) -> None:
    storage = hostile.storage_endpoint
    for bucket in ("..", "a..b", "%2e%2e", "UPPER", "a%00b", "x" * 300):
        _refused(request(storage, "GET", f"/storage/v1/b/{bucket}/o"), 400, "bucket")
        _refused(request(storage, "POST", UPLOAD.format(bucket=bucket, name="x"), b"data",
                         {"Content-Type": "text/plain"}), 400, "bucket")
    for name in ("..", "../../escaped", "a/b"):
        _refused(request(storage, "POST", "/storage/v1/b?project=p", json.dumps({"name": name})), 400, "name")
    assert not (hostile.data_dir / "escaped").exists()


def test_an_object_name_with_dot_dot_is_answered_not_crashed(hostile: ServiceProcess) -> None:
    storage = hostile.storage_endpoint
    assert request(storage, "POST", "/storage/v1/b?project=p", json.dumps({"name": "dots-bucket"})).status == 200
    answer = request(storage, "POST", UPLOAD.format(bucket="dots-bucket", name="a%2F..%2F..%2F..%2Fescaped"),
                     b"data", {"Content-Type": "text/plain"})
    _refused(answer, 400)
    assert not any(p.name == "escaped" for p in hostile.data_dir.rglob("escaped"))
    assert request(storage, "GET", "/storage/v1/b/dots-bucket/o").status == 200


def test_the_wipe_route_of_the_emulator_is_not_served(hostile: ServiceProcess) -> None:
    storage = hostile.storage_endpoint
    assert request(storage, "POST", "/storage/v1/b?project=p", json.dumps({"name": "kept-bucket"})).status == 200
    _refused(request(storage, "GET", "/wipe"), 404)
    assert request(storage, "GET", "/storage/v1/b/kept-bucket").status == 200


# -- limits --------------------------------------------------------------------------------------------

def _head_only(endpoint: str, method: str, path: str, length: int, extra: str = "") -> Answer:
    """Declare a body of ``length`` bytes, send none of it, and read the answer."""
    host = f"127.0.0.1:{host_port(endpoint)[1]}"
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n{extra}\r\n")
    return parse_raw(raw_exchange(endpoint, head.encode(), timeout=20))


def test_bodies_over_the_cap_get_413_before_they_are_read(hostile: ServiceProcess, local_service: Any) -> None:
    _refused(_head_only(hostile.api_endpoint, "POST", JOBS, MAX_REQUEST + 1), 413, str(MAX_REQUEST))
    _refused(_head_only(local_service.api_endpoint, "POST", JOBS, 32 * 1024 * 1024 + 1), 413, str(32 * 1024 * 1024))
    _refused(_head_only(hostile.storage_endpoint, "POST", UPLOAD.format(bucket="capped", name="x"), MAX_UPLOAD + 1),
             413, str(MAX_UPLOAD))
    _refused(_head_only(hostile.api_endpoint, "POST", JOBS, 10**30), 400, "Content-Length")
    _healthy(hostile)


def test_a_body_just_under_the_cap_is_read(hostile: ServiceProcess) -> None:
    body = json.dumps({"padding": "x" * (MAX_REQUEST - 100)})
    _refused(request(hostile.api_endpoint, "POST", JOBS, body), 400)  # read and validated, not refused unread


def test_chunked_and_compressed_storage_bodies_are_capped(hostile: ServiceProcess) -> None:
    storage = hostile.storage_endpoint
    assert request(storage, "POST", "/storage/v1/b?project=p", json.dumps({"name": "chunky"})).status == 200
    bomb = gzip.compress(b"\0" * (MAX_UPLOAD * 20))
    _refused(request(storage, "POST", UPLOAD.format(bucket="chunky", name="bomb"), bomb,
                     {"Content-Type": "application/octet-stream", "Content-Encoding": "gzip"}), 413, "decompressed")
    host = f"127.0.0.1:{host_port(storage)[1]}"
    chunk = b"x" * 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
    head = (f"POST {UPLOAD.format(bucket='chunky', name='big')} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    _refused(parse_raw(raw_exchange(storage, head + chunks)), 413)
    small = b"5\r\nhello\r\n0\r\n\r\n"
    head = head.replace(b"name=big", b"name=small")
    assert parse_raw(raw_exchange(storage, head + small)).status == 200
    assert request(storage, "GET", "/download/storage/v1/b/chunky/o/small?alt=media").body == b"hello"


def test_chunked_api_bodies_are_refused(hostile: ServiceProcess) -> None:
    host = f"127.0.0.1:{host_port(hostile.api_endpoint)[1]}"
    head = (f"POST {JOBS} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n").encode()
    _refused(parse_raw(raw_exchange(hostile.api_endpoint, head)), 411, "Content-Length")


def test_silent_connections_are_closed(hostile: ServiceProcess) -> None:
    """--read-timeout 2: connections that send nothing, or half a request, are closed by the service."""
    socks = []
    for index in range(40):
        sock = socket.create_connection(host_port(hostile.api_endpoint), timeout=30)
        if index % 2:
            sock.sendall(b"POST /v1/projects/local-project/jobs HTTP/1.1\r\nHost: x\r\n")  # never finished
        socks.append(sock)
    _healthy(hostile)  # answered while 40 connections hang
    try:
        for sock in socks:
            assert sock.recv(1024) == b""  # closed by the server (a client timeout would raise instead)
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize("settings", [{"latency": "NaN"}, {"latency": 1e308}, {"latency": -1}, {"latency": True},
                                      {"error_rate": "0.5"}, {"drop_rate": 2}, {"fail_next": 1e20},
                                      {"fail_next": -1}, {"codes": [True]}, {"codes": "429"}, {"codes": [200]},
                                      {"seed": "x"}, {"nonsense": 1}, [1, 2], "text"])
def test_fault_values_are_validated(hostile: ServiceProcess, settings: Any) -> None:
    before = request(hostile.api_endpoint, "GET", "/admin/faults", headers=_admin(hostile)).json()
    _refused(request(hostile.api_endpoint, "POST", "/admin/faults", json.dumps(settings), _admin(hostile)), 400)
    raw_nan = b'{"latency": NaN}'
    _refused(request(hostile.api_endpoint, "POST", "/admin/faults", raw_nan, _admin(hostile)), 400)
    assert request(hostile.api_endpoint, "GET", "/admin/faults", headers=_admin(hostile)).json() == before
    assert request(hostile.api_endpoint, "GET", JOBS).status == 200


# -- malformed requests ----------------------------------------------------------------------------

def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _hp_job(value: str) -> bytes:
    job = _job("hp_range")
    job["trainingInput"]["hyperparameters"] = {
        "goal": "MAXIMIZE", "maxTrials": 2,
        "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 12345}]}
    return json.dumps(job).replace("12345", value).encode()


@pytest.mark.parametrize(("method", "path", "body", "words"), [
    ("POST", JOBS, _deep(50_000), ["nested"]),
    ("POST", JOBS, '{"a":' * 50_000 + "1" + "}" * 50_000, ["nested"]),
    ("POST", JOBS, '{"jobId": ' + _deep(500) + "}", ["nested"]),
    ("POST", JOBS, _hp_job(str(10**400)), ["maxValue", "out of range"]),
    ("POST", JOBS, _hp_job("1e400"), ["maxValue", "out of range"]),
    ("POST", JOBS, _hp_job("-Infinity"), ["JSON"]),
    ("POST", JOBS, _hp_job("9" * 5000), ["JSON"]),
    ("POST", JOBS, b"\xff\xfe not utf-8", ["JSON"]),
    ("POST", JOBS, "[null]", ["Job"]),
    ("POST", VERTEX, _deep(50_000), ["nested"]),
    ("POST", VERTEX, "[]", ["CustomJob"]),
    ("POST", VERTEX, json.dumps({"displayName": "d", "jobSpec": {"workerPoolSpecs": [
        {"replicaCount": 10**30, "pythonPackageSpec": {}}]}}), ["out of range"]),
    ("POST", VERTEX, json.dumps({"displayName": "d", "jobSpec": {"workerPoolSpecs": [
        {"replicaCount": "1e999", "containerSpec": {"imageUri": "x"}}]}}), []),
    ("POST", VERTEX, json.dumps({"displayName": "d", "jobSpec": {"workerPoolSpecs": [
        {"containerSpec": {"imageUri": "x", "env": [{"name": ["n"]}]}}]}}), []),
    ("GET", f"{JOBS}?filter=" + "(" * 5000, "", ["filter"]),
    ("GET", f"{JOBS}?filter=" + "NOT%20" * 5000 + "a=b", "", ["filter"]),
    ("GET", f"{JOBS}?filter=" + "NOT%20" * 2000 + "a=b", "", ["filter", "nested"]),
    ("GET", f"{VERTEX}?filter=" + "(" * 5000, "", ["filter"]),
    ("GET", f"{JOBS}?pageSize=" + "9" * 400, "", ["pageSize"]),
    ("GET", f"{JOBS}?pageToken=" + "9" * 400, "", ["pageToken"]),
    ("POST", "/v2/entries:list", json.dumps({"resourceNames": 5}), ["resourceNames"]),
    ("POST", "/v2/entries:list", json.dumps({"resourceNames": [None]}), ["resourceNames"]),
    ("POST", "/v2/entries:list", "[null]", ["JSON object"]),
    ("POST", "/v2/entries:list", "[]", ["JSON object"]),
    ("POST", "/v2/entries:list", '"text"', ["JSON object"]),
    ("POST", "/v2/entries:list", json.dumps({"filter": 'resource.labels.job_id="j" AND severity>="BOGUS"'}),
     ["severity"]),
    ("POST", "/v2/entries:list", json.dumps({"filter": 5}), ["filter"]),
    ("POST", "/v2/entries:list", json.dumps({"filter": 'resource.labels.job_id="j"', "pageSize": [1]}),
     ["pageSize"]),
    ("POST", "/v2/entries:list", json.dumps({"filter": 'resource.labels.job_id="j"', "pageSize": 1e300}),
     ["pageSize"]),
    ("POST", "/v2/entries:list", json.dumps({"filter": 'resource.labels.job_id="j"', "pageToken": "-1"}),
     ["pageToken"]),
    ("POST", "/v2/entries:list", json.dumps({"filter": 'resource.labels.job_id="j"', "orderBy": {"a": 1}}),
     ["orderBy"]),
    ("POST", "/v2/entries:list", _deep(50_000), ["nested"]),
    ("PATCH", f"{JOBS}/no_such_job?updateMask=labels", _deep(50_000), ["nested"]),
])
def test_malformed_requests_get_400_in_google_shape(hostile: ServiceProcess, method: str, path: str,
                                                      body: str | bytes, words: list[str]) -> None:
    answer = request(hostile.api_endpoint, method, path, body if method != "GET" else None)
    if answer.status == 404 and method == "PATCH":
        return
    _refused(answer, 400, *words)


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "FOO"])
@pytest.mark.parametrize("surface", ["api", "storage"])
def test_other_verbs_get_a_google_shaped_405(hostile: ServiceProcess, method: str, surface: str) -> None:
    endpoint = hostile.api_endpoint if surface == "api" else hostile.storage_endpoint
    answer = request(endpoint, method, JOBS if surface == "api" else "/storage/v1/b")
    assert answer.status == 405 and answer.headers["content-type"].startswith("application/json")
    if method != "HEAD":  # a HEAD answer has no body
        _refused(answer, 405, "Method not allowed")


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /healthz HTTP/9.9\r\nHost: h\r\n\r\n",
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n" + b"X-Long: " + b"a" * 70_000 + b"\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n",
    b"POST /v1/projects/local-project/jobs HTTP/1.1\r\nHost: {host}\r\nContent-Length: -5\r\n\r\n",
    b"POST /v1/projects/local-project/jobs HTTP/1.1\r\nHost: {host}\r\nContent-Length: abc\r\n\r\n",
])
@pytest.mark.parametrize("surface", ["api", "storage"])
def test_broken_http_is_answered_in_google_shape(hostile: ServiceProcess, raw: bytes, surface: str) -> None:
    endpoint = hostile.api_endpoint if surface == "api" else hostile.storage_endpoint
    data = raw.replace(b"{host}", b"127.0.0.1:%d" % host_port(endpoint)[1])
    answer = parse_raw(raw_exchange(endpoint, data))
    assert 400 <= answer.status < 500
    _refused(answer, answer.status)
    _healthy(hostile)


# -- fuzz ----------------------------------------------------------------------------------------------

_SEGMENTS = ["v1", "v2", "projects", PROJECT, "..", ".", "%2e%2e", "%00", "%ff", "jobs", "j1", "j1:cancel",
             ":cancel", "locations", "us-central1", "customJobs", "hyperparameterTuningJobs", "123", "entries:list",
             "console", "admin", "faults", "healthz", "%2F", "a" * 300, "%C3%A9", "%", "%%", "*", "~", ";", "@"]
_VALUES: list[Any] = [None, True, 0, -1, 1.5, 10**18, "", "x", "NaN", [], {}, [None], {"a": None}, "\u0000",
                      "é" * 50, [[[]]], {"jobId": None}, {"trainingInput": []}, {"labels": {"A": 1}}]


def _fuzz_body(rng: random.Random, depth: int = 0) -> Any:
    if depth > 3 or rng.random() < 0.3:
        return rng.choice(_VALUES)
    if rng.random() < 0.5:
        return [_fuzz_body(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["jobId", "trainingInput", "labels", "filter", "resourceNames", "pageSize", "displayName", "jobSpec",
            "latency", "etag", "pythonModule", "args", "workerPoolSpecs", "x"]
    return {rng.choice(keys): _fuzz_body(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def test_fuzzed_requests_never_get_a_5xx(hostile: ServiceProcess) -> None:
    rng = random.Random(20261201)
    headers_pool = [{}, {"Content-Type": "application/json; charset=utf-8"}, {"Origin": hostile.api_endpoint},
                    {"Authorization": "Bearer " + "a" * 500}, {"X-HTTP-Method-Override": "DELETE"},
                    {"Content-Encoding": "gzip"}, {"Accept": "\u00ff"}, {"Cookie": "a=" + "b" * 4000}]
    for _ in range(400):
        path = "/" + "/".join(rng.choice(_SEGMENTS) for _ in range(rng.randint(0, 7)))
        if rng.random() < 0.3:
            path += "?" + rng.choice(["filter=", "pageSize=", "pageToken=", "updateMask=", "project="]) + rng.choice(
                ["", "-1", "a", "(" * 50, "labels", "%00", "NOT%20NOT", "x" * 1000])
        method = rng.choice(["GET", "POST", "PATCH", "PUT", "DELETE"])
        body = json.dumps(_fuzz_body(rng)) if method != "GET" else None
        headers = dict(rng.choice(headers_pool))
        if "Origin" in headers and rng.random() < 0.5:
            headers["Origin"] = "http://127.0.0.1:1"
        endpoint = hostile.api_endpoint if rng.random() < 0.8 else hostile.storage_endpoint
        try:
            answer = request(endpoint, method, path, body, headers, timeout=30)
        except (ConnectionError, OSError) as err:  # a closed connection is an answer only for a drop fault
            raise AssertionError(f"{method} {path}: {err!r}") from None
        assert answer.status < 500, (method, path, body, answer.body[:300])
        assert b"Traceback" not in answer.body
        if answer.status >= 400 and answer.headers.get("content-type", "").startswith("application/json"):
            assert set(answer.json()["error"]) == {"code", "message", "status"}
    _healthy(hostile)
    assert request(hostile.storage_endpoint, "GET", "/storage/v1/b?project=p").status == 200


def test_the_service_is_healthy_after_all_of_it(hostile: ServiceProcess) -> None:
    time.sleep(0)  # runs last in this module: the earlier tests left nothing broken
    _healthy(hostile)
    faults = request(hostile.api_endpoint, "GET", "/admin/faults", headers=_admin(hostile)).json()
    assert faults["latency"] == 0.0 and faults["error_rate"] == 0.0 and faults["fail_next"] == 0
    assert os.path.isdir(hostile.data_dir / "storage")
