"""gs:// packages are looked up before the create: missing fails at once, unchecked ones say so (issue 12 item 9)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.cloud import storage
from support.gcs_objects import put_gs_objects

from airflow_provider_trainjobs.hooks import gcs_check
from airflow_provider_trainjobs.hooks.staging import StagingError, StagingHook


@pytest.fixture
def local_pkg(tmp_path: Path) -> Path:
    path = tmp_path / "dep-1.0.tar.gz"
    path.write_bytes(b"local dep")
    return path


def object_names(bucket: storage.Bucket) -> list[str]:
    return sorted(b.name for b in bucket.client.list_blobs(bucket.name))


def test_a_missing_gs_package_fails_naming_it_before_anything_is_uploaded(
        bucket: storage.Bucket, local_pkg: Path) -> None:
    missing = f"gs://{bucket.name}/deps/nope-1.0.whl"
    with pytest.raises(StagingError, match=f"packages: {missing} does not exist"):
        StagingHook().stage_packages([missing, str(local_pkg)], job_id="j1", staging_bucket=bucket.name)
    assert object_names(bucket) == []


def test_a_gs_package_in_a_missing_bucket_fails_before_the_build(
        bucket: storage.Bucket, tmp_path: Path) -> None:
    trainer = tmp_path / "app" / "trainer"
    trainer.mkdir(parents=True)
    (trainer / "__init__.py").write_text("")
    missing = f"gs://no-such-{uuid.uuid4().hex[:8]}/dep-1.0.tar.gz"
    with pytest.raises(StagingError, match=f"{missing} does not exist"):
        StagingHook().stage_training_packages(package_path=str(trainer), packages=[missing], job_id="j2",
                                              staging_bucket=bucket.name, job_dir=None)
    assert object_names(bucket) == []


def test_existing_gs_packages_are_checked_and_passed_through(
        bucket: storage.Bucket, storage_conn: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    uris = [f"gs://{bucket.name}/deps/dep one#1.0.whl", f"gs://{bucket.name}/deps/dép-2.0.tar.gz"]
    put_gs_objects(storage_conn["storage_endpoint"], *uris, data=b"12345")
    staged = StagingHook().stage_packages(uris)
    out = capsys.readouterr().out
    assert [s.uri for s in staged] == uris and not any(s.uploaded for s in staged)
    assert f"{uris[0]} is in Cloud Storage (5 bytes): passed through" in out
    assert "already in Cloud Storage" not in out


def test_with_the_check_switched_off_the_line_says_not_checked(
        bucket: storage.Bucket, capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"gs://{bucket.name}/deps/never-made.whl"
    staged = StagingHook(check_gcs_packages=False).stage_packages([uri])
    out = capsys.readouterr().out
    assert [s.uri for s in staged] == [uri]
    assert f"{uri} passed through, not checked (check_gcs_packages=False)" in out


def test_a_storage_endpoint_that_is_down_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AIRFLOW_CONN_DOWN", json.dumps(
        {"conn_type": "trainjobs", "extra": {"project": "p", "storage_endpoint": endpoint}}))
    monkeypatch.setattr(gcs_check, "CHECK_TIMEOUT_SECONDS", 1.0)
    with pytest.raises(StagingError, match=f"cannot check gs://b-1/x.tar.gz: the storage endpoint {endpoint} "
                                           "did not answer"):
        StagingHook("down").stage_packages(["gs://b-1/x.tar.gz"])


class _Forbidden(http.server.BaseHTTPRequestHandler):
    """What the emulator cannot produce: credentials that may not read the object (403)."""

    def do_GET(self) -> None:
        body = json.dumps({"error": {"code": 403, "message": "no storage.objects.get"}}).encode()
        self.send_response(403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def forbidden_endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_an_unreadable_gs_package_is_passed_through_and_logged_not_checked(
        forbidden_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_FORBIDDEN", json.dumps(
        {"conn_type": "trainjobs", "extra": {"project": "p", "storage_endpoint": forbidden_endpoint}}))
    staged = StagingHook("forbidden").stage_packages(["gs://b-1/x.tar.gz"])
    out = capsys.readouterr().out
    assert [s.uri for s in staged] == ["gs://b-1/x.tar.gz"]
    assert "gs://b-1/x.tar.gz passed through, not checked: the connection's credentials may not read it" in out
