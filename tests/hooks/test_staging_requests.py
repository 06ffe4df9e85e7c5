"""What staging sends to Cloud Storage, request by request, against the real emulator and client.

A fresh upload costs two small requests more than a plain ``upload_from_filename`` (the content-addressed index
lookup and its write); nothing else is paid on the way, and a package built by the hook is not read again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from google.cloud import storage

from airflow_provider_trainjobs.hooks.staging import INDEX_SOURCE_KEY, StagingHook, _same_content
from airflow_provider_trainjobs.staging_plan import LocalFile, hash_file

Request = tuple[str, str]  # (operation, what it touched: "object" or "index")


@pytest.fixture
def package(tmp_path: Path) -> Path:
    path = tmp_path / "trainer-0.1.tar.gz"
    path.write_bytes(b"trainer sdist bytes " * 100)
    return path


def _classify(method: str, url: str, body: Any) -> Request:
    """An upload names its object in the body (multipart) or the session request; the rest in the URL."""
    text = unquote(url) + (body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or ""))[:4096]
    path = urlparse(text).path
    if "/copyTo/" in path or "/rewriteTo/" in path:
        source = path.split("/o/", 1)[1].split("/copyTo/")[0].split("/rewriteTo/")[0]
        return "copy", "index" if "_by_sha256/" in source else "object"
    op = "upload" if "/upload/" in path else method
    return op, "index" if "_by_sha256/" in text else "object"


def recording(hook: StagingHook) -> list[Request]:
    """Every HTTP request the hook's storage client sends from now on."""
    session: Any = hook.get_conn()._http
    real: Callable[..., Any] = session.request
    seen: list[Request] = []

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if "/o" not in urlparse(url).path:
            # Bucket metadata: the client fetches it in a background thread of its own (plain uploads too), and
            # stage_training_packages looks the bucket up before building; neither is on the way to an upload.
            return real(method, url, *args, **kwargs)
        seen.append(_classify(method, url, kwargs.get("data")))
        return real(method, url, *args, **kwargs)

    session.request = request
    return seen


def stage(package: Path, bucket: storage.Bucket, job_id: str) -> tuple[Any, list[Request]]:
    hook = StagingHook()
    seen = recording(hook)
    staged = hook.stage_packages([str(package)], job_id=job_id, staging_bucket=bucket.name)
    return staged[0], seen


def object_name(package: Path, job_id: str) -> str:
    return f"{job_id}/{hashlib.sha256(package.read_bytes()).hexdigest()}/{package.name}"


def index_name(package: Path) -> str:
    return f"_by_sha256/{hashlib.sha256(package.read_bytes()).hexdigest()}/{package.name}"


def test_a_fresh_upload_is_a_plain_upload_plus_the_index_lookup_and_write(
        bucket: storage.Bucket, package: Path) -> None:
    plain_hook = StagingHook()
    plain_seen = recording(plain_hook)
    plain_hook.get_conn().bucket(bucket.name).blob("plain/" + package.name).upload_from_filename(str(package))

    staged, seen = stage(package, bucket, "run_1")

    assert plain_seen == [("upload", "object")]
    assert seen == [("GET", "index"), ("upload", "object"), ("upload", "index")]  # no bucket lookup, no copy
    assert staged.uploaded
    index = bucket.get_blob(index_name(package))
    assert index is not None and index.size == 0  # a pointer, not a second copy of the package
    assert index.metadata == {INDEX_SOURCE_KEY: object_name(package, "run_1")}


def test_the_same_job_again_only_looks(bucket: storage.Bucket, package: Path) -> None:
    stage(package, bucket, "run_1")
    staged, seen = stage(package, bucket, "run_1")
    assert seen == [("GET", "index"), ("GET", "object")] and not staged.uploaded


def test_a_new_job_id_is_one_server_side_copy_from_the_indexed_object(bucket: storage.Bucket, package: Path) -> None:
    stage(package, bucket, "run_1")
    staged, seen = stage(package, bucket, "run_2")
    assert seen == [("GET", "index"), ("GET", "object"), ("copy", "object")] and not staged.uploaded
    assert bucket.blob(object_name(package, "run_2")).download_as_bytes() == package.read_bytes()


def test_an_index_whose_object_was_deleted_falls_back_to_an_upload_and_is_rewritten(
        bucket: storage.Bucket, package: Path) -> None:
    stage(package, bucket, "run_1")
    bucket.blob(object_name(package, "run_1")).delete()

    staged, seen = stage(package, bucket, "run_2")

    assert staged.uploaded and seen[-2:] == [("upload", "object"), ("upload", "index")]
    assert bucket.blob(object_name(package, "run_2")).download_as_bytes() == package.read_bytes()
    index = bucket.get_blob(index_name(package))
    assert index is not None and index.metadata == {INDEX_SOURCE_KEY: object_name(package, "run_2")}


def test_a_forged_index_never_leaves_other_bytes_at_the_job_path(bucket: storage.Bucket, package: Path) -> None:
    bucket.blob("someone/else.tar.gz").upload_from_string(b"not the trainer")
    forged = bucket.blob(index_name(package))
    forged.metadata = {INDEX_SOURCE_KEY: "someone/else.tar.gz"}
    forged.upload_from_string(b"")

    staged, _ = stage(package, bucket, "run_1")

    assert staged.uploaded
    assert bucket.blob(object_name(package, "run_1")).download_as_bytes() == package.read_bytes()
    assert bucket.blob("someone/else.tar.gz").download_as_bytes() == b"not the trainer"  # never written


@pytest.mark.parametrize("source", ["", "a\nb", "x" * 1025, "multi\r\nline"])
def test_index_metadata_that_is_not_an_object_name_is_ignored(
        bucket: storage.Bucket, package: Path, source: str) -> None:
    hostile = bucket.blob(index_name(package))
    hostile.metadata = {INDEX_SOURCE_KEY: source}
    hostile.upload_from_string(b"")

    staged, seen = stage(package, bucket, "run_1")

    assert staged.uploaded and ("copy", "object") not in seen and ("copy", "index") not in seen
    index = bucket.get_blob(index_name(package))
    assert index is not None and index.metadata == {INDEX_SOURCE_KEY: object_name(package, "run_1")}


def test_an_index_entry_holding_the_bytes_itself_is_still_reused(bucket: storage.Bucket, package: Path) -> None:
    """Earlier versions kept a full copy at the index name: a bucket staged by them still gets 0-byte reuse."""
    bucket.blob(index_name(package)).upload_from_filename(str(package))

    staged, seen = stage(package, bucket, "run_2")

    assert not staged.uploaded and seen[-1] == ("copy", "index")
    assert bucket.blob(object_name(package, "run_2")).download_as_bytes() == package.read_bytes()


def test_a_package_the_hook_built_is_not_read_again_to_stage_it(
        bucket: storage.Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow_provider_trainjobs.staging_plan as staging_plan

    reads: list[str] = []
    real_hash = staging_plan.hash_file
    monkeypatch.setattr(staging_plan, "hash_file", lambda path, *rest: reads.append(path.name) or
                        real_hash(path, *rest))
    (tmp_path / "app" / "trainer").mkdir(parents=True)
    (tmp_path / "app" / "trainer" / "__init__.py").write_text("")

    hook = StagingHook()
    seen = recording(hook)
    staged = hook.stage_training_packages(package_path=str(tmp_path / "app" / "trainer"), packages=None,
                                          job_id="built_1", staging_bucket=bucket.name, job_dir=None)

    assert reads == []  # sha256 and CRC32C were taken while the sdist was written
    assert seen == [("GET", "index"), ("upload", "object"), ("upload", "index")]
    name = staged[0].uri.split(f"gs://{bucket.name}/", 1)[1]
    data = bucket.blob(name).download_as_bytes()
    assert staged[0].sha256 == hashlib.sha256(data).hexdigest() == name.split("/")[1]


def test_checksums_compare_crc32c_and_fall_back_to_md5(bucket: storage.Bucket, package: Path) -> None:
    """Cloud Storage reports CRC32C for every object; a server that reports only MD5 is still checked."""
    local = hash_file(package)
    blob = storage.Blob("x", bucket)
    blob._properties.update({"size": str(local.size), "crc32c": local.crc32c_b64})
    assert _same_content(blob, local)
    blob._properties.update({"crc32c": "AAAAAA=="})
    assert not _same_content(blob, local)
    md5 = __import__("base64").b64encode(hashlib.md5(package.read_bytes()).digest()).decode()
    blob._properties = {"size": str(local.size), "md5Hash": md5}
    assert _same_content(blob, local)
    assert not _same_content(blob, LocalFile(package, local.size + 1, local.sha256, local.crc32c_b64))
    blob._properties = {"size": str(local.size)}
    assert not _same_content(blob, local)  # nothing to compare: never taken as the same
