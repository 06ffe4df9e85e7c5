"""StagingHook against the real Cloud Storage emulator over HTTP with the real google-cloud-storage client."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from support.gcs_objects import put_gs_objects

from airflow_provider_trainjobs.hooks.staging import StagingError, StagingHook, plan_staging


def gcs(endpoint: str) -> storage.Client:
    return storage.Client(project="local-project", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": endpoint})


@pytest.fixture
def bucket(storage_conn: dict[str, str]) -> storage.Bucket:
    """A fresh, empty bucket in the emulator the default connection points at."""
    return gcs(storage_conn["storage_endpoint"]).create_bucket(f"stage-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def pkgs(tmp_path: Path) -> dict[str, Path]:
    files = {"trainer-0.1.tar.gz": b"trainer sdist bytes", "dep1-1.0.tar.gz": b"dep one",
             "dep2-2.0-py3-none-any.whl": b"dep two wheel"}
    out = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        out[name] = tmp_path / name
    return out


def all_object_names(bucket: storage.Bucket) -> list[str]:
    return sorted(b.name for b in bucket.client.list_blobs(bucket.name))


def object_names(bucket: storage.Bucket) -> list[str]:
    """The staged packages' objects, without the content-addressed copies kept for reuse (``_by_sha256/``)."""
    return [n for n in all_object_names(bucket) if "_by_sha256/" not in n]


def put(bucket: storage.Bucket, *uris: str) -> None:
    """Make the gs:// packages a test passes exist: they are checked before anything is staged."""
    put_gs_objects(bucket.client._connection.API_BASE_URL, *uris)


def test_gs_uris_first_then_local_files_under_staging_bucket_job_and_digest(
        bucket: storage.Bucket, pkgs: dict[str, Path]) -> None:
    local = [pkgs["dep1-1.0.tar.gz"], pkgs["trainer-0.1.tar.gz"]]
    packages = [str(local[0]), "gs://other-bucket/deps/extra-1.0.whl", str(local[1])]
    put(bucket, "gs://other-bucket/deps/extra-1.0.whl")

    staged = StagingHook().stage_packages(packages, job_id="census_1", staging_bucket=f"gs://{bucket.name}/pre")

    digest = hashlib.sha256(b"".join(p.read_bytes() for p in local)).hexdigest()
    assert [s.uri for s in staged] == [
        "gs://other-bucket/deps/extra-1.0.whl",
        f"gs://{bucket.name}/pre/census_1/{digest}/dep1-1.0.tar.gz",
        f"gs://{bucket.name}/pre/census_1/{digest}/trainer-0.1.tar.gz",
    ]
    assert [s.uploaded for s in staged] == [False, True, True]
    assert staged[1].size == len(b"dep one")
    assert staged[1].sha256 == hashlib.sha256(b"dep one").hexdigest()
    for item, path in zip(staged[1:], local, strict=True):
        blob = bucket.blob(item.uri.split(f"{bucket.name}/", 1)[1])
        assert blob.download_as_bytes() == path.read_bytes()


def test_job_dir_destination_and_bare_bucket_name(bucket: storage.Bucket, pkgs: dict[str, Path]) -> None:
    path = pkgs["trainer-0.1.tar.gz"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    hook = StagingHook()

    uris = hook.stage_package_uris([str(path)], job_dir=f"gs://{bucket.name}/runs/r1/")
    assert uris == [f"gs://{bucket.name}/runs/r1/packages/{digest}/trainer-0.1.tar.gz"]

    # A staging bucket wins over the job dir, and may be given without gs://.
    uris = hook.stage_package_uris([str(path)], job_id="j2", staging_bucket=bucket.name, job_dir="gs://x-y-z/d")
    assert uris == [f"gs://{bucket.name}/j2/{digest}/trainer-0.1.tar.gz"]
    assert object_names(bucket) == [f"j2/{digest}/trainer-0.1.tar.gz", f"runs/r1/packages/{digest}/trainer-0.1.tar.gz"]


def test_second_staging_of_unchanged_files_uploads_nothing(bucket: storage.Bucket, pkgs: dict[str, Path]) -> None:
    packages = [str(p) for p in pkgs.values()]
    hook = StagingHook()
    first = hook.stage_packages(packages, job_id="j", staging_bucket=bucket.name)
    generations = {b.name: b.generation for b in bucket.client.list_blobs(bucket.name)}

    second = StagingHook().stage_packages(packages, job_id="j", staging_bucket=bucket.name)

    assert [s.uri for s in second] == [s.uri for s in first]
    assert all(s.uploaded for s in first)
    assert not any(s.uploaded for s in second)
    assert sum(s.size or 0 for s in second if s.uploaded) == 0
    assert {b.name: b.generation for b in bucket.client.list_blobs(bucket.name)} == generations


def test_changed_content_changes_the_path(bucket: storage.Bucket, pkgs: dict[str, Path]) -> None:
    path = pkgs["trainer-0.1.tar.gz"]
    hook = StagingHook()
    before = hook.stage_package_uris([str(path)], job_id="j", staging_bucket=bucket.name)
    path.write_bytes(b"trainer sdist bytes, edited")
    after = hook.stage_package_uris([str(path)], job_id="j", staging_bucket=bucket.name)
    assert before != after
    assert len(object_names(bucket)) == 2


def test_object_with_other_content_at_the_path_is_replaced(bucket: storage.Bucket, pkgs: dict[str, Path]) -> None:
    path = pkgs["trainer-0.1.tar.gz"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    name = f"j/{digest}/trainer-0.1.tar.gz"
    bucket.blob(name).upload_from_string(b"truncated")

    staged = StagingHook().stage_packages([str(path)], job_id="j", staging_bucket=bucket.name)

    assert staged[0].uploaded is True
    assert bucket.blob(name).download_as_bytes() == path.read_bytes()


def test_file_above_the_resumable_threshold_is_uploaded_in_chunks(bucket: storage.Bucket, tmp_path: Path) -> None:
    big = tmp_path / "big-1.0.tar.gz"
    data = hashlib.sha256(b"seed").digest() * (9 * 1024 * 1024 // 32 + 7)  # > the client's 8 MiB multipart limit
    big.write_bytes(data)

    staged = StagingHook(chunk_size=1024 * 1024).stage_packages([str(big)], job_id="j", staging_bucket=bucket.name)

    assert staged[0].uploaded and staged[0].size == len(data)
    blob = bucket.get_blob(staged[0].uri.split(f"{bucket.name}/", 1)[1])
    assert blob is not None and blob.size == len(data)
    assert blob.download_as_bytes() == data


class _FlakyProxy(http.server.BaseHTTPRequestHandler):
    """Forwards to the emulator, answering 503 to the first ``failures`` upload requests."""

    target = ""
    failures = 0
    seen: list[str] = []

    def _handle(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/upload/") and type(self).failures > 0:
            type(self).failures -= 1
            type(self).seen.append("503")
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        target = urlparse(self.target)
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def flaky_endpoint(storage_emulator: str) -> Iterator[type[_FlakyProxy]]:
    handler = type("Flaky", (_FlakyProxy,), {"target": storage_emulator, "failures": 2, "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.endpoint = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_transient_upload_errors_are_retried(storage_emulator: str, flaky_endpoint: type[_FlakyProxy],
                                              pkgs: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = gcs(storage_emulator).create_bucket(f"flaky-{uuid.uuid4().hex[:12]}")
    extras = f'{{"project": "local-project", "storage_endpoint": "{flaky_endpoint.endpoint}"}}'  # type: ignore[attr-defined]
    monkeypatch.setenv("AIRFLOW_CONN_FLAKY", f'{{"conn_type": "trainjobs", "extra": {extras}}}')
    path = pkgs["trainer-0.1.tar.gz"]

    staged = StagingHook("flaky").stage_packages([str(path)], job_id="j", staging_bucket=bucket.name)

    assert flaky_endpoint.seen == ["503", "503"]
    assert staged[0].uploaded
    assert bucket.blob(staged[0].uri.split(f"{bucket.name}/", 1)[1]).download_as_bytes() == path.read_bytes()


# --- errors: one clear message, raised before anything is uploaded --------------------------------------


def _assert_error_and_nothing_uploaded(bucket: storage.Bucket, packages: list[str], match: str, **kwargs: str) -> None:
    with pytest.raises(StagingError, match=match):
        StagingHook().stage_packages(packages, **kwargs)
    assert all_object_names(bucket) == []


def test_no_staging_bucket_nor_job_dir(bucket: storage.Bucket, pkgs: dict[str, Path]) -> None:
    _assert_error_and_nothing_uploaded(
        bucket, [str(pkgs["trainer-0.1.tar.gz"])], "a staging bucket or job dir is required", job_id="j"
    )


def test_only_gs_uris_need_no_destination(pkgs: dict[str, Path]) -> None:
    plan = plan_staging(["gs://b-1/a.tar.gz", "gs://b-1/b.whl"])
    assert plan.passthrough == ("gs://b-1/a.tar.gz", "gs://b-1/b.whl") and plan.uploads == ()


def test_duplicate_basenames(bucket: storage.Bucket, pkgs: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "dep1-1.0.tar.gz").write_bytes(b"another")
    _assert_error_and_nothing_uploaded(
        bucket, [str(pkgs["dep1-1.0.tar.gz"]), str(other / "dep1-1.0.tar.gz")],
        "share the name 'dep1-1.0.tar.gz'", job_id="j", staging_bucket=bucket.name,
    )


def test_more_than_100_uris(bucket: storage.Bucket, pkgs: dict[str, Path]) -> None:
    packages = [str(pkgs["dep1-1.0.tar.gz"])] + [f"gs://b-1/p{i}.tar.gz" for i in range(100)]
    _assert_error_and_nothing_uploaded(bucket, packages, "at most 100 package URIs", job_id="j",
                                       staging_bucket=bucket.name)
    assert len(plan_staging([f"gs://b-1/p{i}.tar.gz" for i in range(100)]).passthrough) == 100


@pytest.mark.parametrize(("uri", "match"), [
    ("gs://", "not a valid bucket name"),
    ("gs://bucket-only", "must name an object"),
    ("gs://bucket-only/", "must name an object"),
    ("gs://Upper/p.tar.gz", "not a valid bucket name"),
    ("gs://ab/p.tar.gz", "not a valid bucket name"),
    ("gs://google-x/p.tar.gz", "not a valid bucket name"),
    ("gs://192.168.1.1/p.tar.gz", "not a valid bucket name"),
    ("gs://b-1/dir/", "must name an object"),
    ("s3://b-1/p.tar.gz", "is not a gs:// URI"),
])
def test_malformed_gs_uris(bucket: storage.Bucket, pkgs: dict[str, Path], uri: str, match: str) -> None:
    _assert_error_and_nothing_uploaded(bucket, [str(pkgs["dep1-1.0.tar.gz"]), uri], rf"packages\[1\].*{match}",
                                       job_id="j", staging_bucket=bucket.name)


def test_missing_local_file(bucket: storage.Bucket, pkgs: dict[str, Path], tmp_path: Path) -> None:
    _assert_error_and_nothing_uploaded(
        bucket, [str(pkgs["dep1-1.0.tar.gz"]), str(tmp_path / "gone-1.0.tar.gz")],
        r"packages\[1\]: local file .*gone-1.0.tar.gz' does not exist", job_id="j", staging_bucket=bucket.name,
    )


def test_unsupported_file_type(bucket: storage.Bucket, pkgs: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy\n")
    _assert_error_and_nothing_uploaded(
        bucket, [str(pkgs["dep1-1.0.tar.gz"]), str(tmp_path / "requirements.txt")],
        r"packages\[1\]: .* is not a Python package file \(expected one of .tar.gz, .whl, .zip\)",
        job_id="j", staging_bucket=bucket.name,
    )


def test_staging_bucket_needs_a_valid_job_id(bucket: storage.Bucket, pkgs: dict[str, Path]) -> None:
    packages = [str(pkgs["dep1-1.0.tar.gz"])]
    _assert_error_and_nothing_uploaded(bucket, packages, "job_id: required", staging_bucket=bucket.name)
    _assert_error_and_nothing_uploaded(bucket, packages, "job_id: '9lives' must be letters", job_id="9lives",
                                       staging_bucket=bucket.name)
    _assert_error_and_nothing_uploaded(bucket, packages, "staging_bucket: 'gs://Bad_Bucket!': bucket 'Bad_Bucket!' is not a valid",
                                       job_id="j", staging_bucket="gs://Bad_Bucket!")
    _assert_error_and_nothing_uploaded(bucket, packages, "job_dir: 'file:///tmp' is not a gs:// URI",
                                       job_dir="file:///tmp")


def test_missing_bucket_is_an_error_and_is_not_created(storage_conn: dict[str, str], pkgs: dict[str, Path]) -> None:
    name = f"absent-{uuid.uuid4().hex[:12]}"
    with pytest.raises(StagingError, match=rf"bucket '{name}' does not exist"):
        StagingHook().stage_packages([str(pkgs["dep1-1.0.tar.gz"])], job_id="j", staging_bucket=name)
    assert gcs(storage_conn["storage_endpoint"]).lookup_bucket(name) is None


def test_comma_separated_string_like_the_gcloud_flag(bucket: storage.Bucket, pkgs: dict[str, Path]) -> None:
    put(bucket, "gs://b-1/x.whl")
    uris = StagingHook().stage_package_uris(f"{pkgs['dep1-1.0.tar.gz']}, gs://b-1/x.whl", job_id="j",
                                            staging_bucket=bucket.name)
    assert uris[0] == "gs://b-1/x.whl" and uris[1].endswith("/dep1-1.0.tar.gz")


def test_bad_chunk_size() -> None:
    with pytest.raises(StagingError, match="chunk_size: must be a positive multiple of 256 KiB"):
        StagingHook(chunk_size=1000)


# --- stage_training_packages: check everything, build, hash and upload once ----------------------------------


def _trainer(root: Path, *, setup_py: str | None = None) -> Path:
    """A tiny trainer package ``root/trainer``; ``setup_py`` (if given) is written beside it."""
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "task.py").write_text("print('training')\n")
    if setup_py is not None:
        (root / "setup.py").write_text(setup_py)
    return root / "trainer"


# A setup.py that fails if it is ever run: a test using it proves the check came before the build.
_FAILING_SETUP = "raise SystemExit('the build ran')\n"


def test_stage_training_packages_builds_then_stages_with_each_file_read_once(
        bucket: storage.Bucket, pkgs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow_provider_trainjobs.staging_plan as staging_plan

    reads: list[str] = []
    real_hash = staging_plan.hash_file
    monkeypatch.setattr(staging_plan, "hash_file", lambda path, *combined: reads.append(path.name) or
                        real_hash(path, *combined))
    package_path = _trainer(tmp_path / "app")
    dep = pkgs["dep1-1.0.tar.gz"]
    put(bucket, "gs://deps-1/extra.whl")

    staged = StagingHook().stage_training_packages(
        package_path=str(package_path), packages=[str(dep), "gs://deps-1/extra.whl"], job_id="census_1",
        staging_bucket=f"gs://{bucket.name}", job_dir=None)

    assert reads == ["dep1-1.0.tar.gz", "trainer-0.0.0.tar.gz"]  # one read per local file, no pre-check read
    assert [s.uri.rsplit("/", 1)[-1] for s in staged] == ["extra.whl", "dep1-1.0.tar.gz", "trainer-0.0.0.tar.gz"]
    assert [s.uploaded for s in staged] == [False, True, True]
    digest = staged[1].uri.split("/")[-2]
    assert object_names(bucket) == [f"census_1/{digest}/dep1-1.0.tar.gz", f"census_1/{digest}/trainer-0.0.0.tar.gz"]
    assert staged[1].sha256 == hashlib.sha256(dep.read_bytes()).hexdigest()

    again = StagingHook().stage_training_packages(
        package_path=str(package_path), packages=[str(dep), "gs://deps-1/extra.whl"], job_id="census_1",
        staging_bucket=f"gs://{bucket.name}", job_dir=None)
    assert [s.uri for s in again] == [s.uri for s in staged]
    assert not any(s.uploaded for s in again)


def test_stage_training_packages_with_only_packages_or_only_the_trainer(bucket: storage.Bucket,
                                                                       pkgs: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    hook = StagingHook()
    only_packages = hook.stage_training_packages(package_path=None, packages=f"{pkgs['dep1-1.0.tar.gz']}",
                                                 job_id=None, staging_bucket=None, job_dir=f"gs://{bucket.name}/run")
    assert len(only_packages) == 1 and only_packages[0].uri.endswith("/dep1-1.0.tar.gz")
    assert only_packages[0].uri.startswith(f"gs://{bucket.name}/run/packages/")
    only_trainer = hook.stage_training_packages(package_path=str(_trainer(tmp_path / "app")), packages=None,
                                                job_id="j", staging_bucket=bucket.name, job_dir=None)
    assert len(only_trainer) == 1 and only_trainer[0].uploaded
    with pytest.raises(ValueError, match="package_path/packages: give a trainer package dir"):
        hook.stage_training_packages(package_path=None, packages=[], job_id="j", staging_bucket=bucket.name,
                                     job_dir=None)


def test_whitespace_around_staging_arguments_is_ignored(bucket: storage.Bucket, pkgs: dict[str, Path]) -> None:
    dep = pkgs["dep1-1.0.tar.gz"]
    digest = hashlib.sha256(dep.read_bytes()).hexdigest()
    staged = StagingHook().stage_training_packages(package_path=None, packages=[f" {dep} "], job_id=" j1\n",
                                                   staging_bucket=f" gs://{bucket.name} ", job_dir=None)
    assert [s.uri for s in staged] == [f"gs://{bucket.name}/j1/{digest}/dep1-1.0.tar.gz"]
    uris = StagingHook().stage_package_uris([str(dep)], job_dir=f"  gs://{bucket.name}/d  ")
    assert uris == [f"gs://{bucket.name}/d/packages/{digest}/dep1-1.0.tar.gz"]


@pytest.mark.parametrize(("case", "match"), [
    ("too_many", r"at most 100 package URIs are allowed, got 101 \(counting the built trainer package\)"),
    ("no_destination", "staging_bucket/job_dir: a staging bucket or job dir is required"),
    ("bad_job_id", "job_id: '1x' must be letters"),
    ("missing_bucket", "bucket 'absent-bucket-1' does not exist"),
    ("bad_uri", r"packages\[0\]: 's3://b/x.whl' is not a gs:// URI"),
])
def test_stage_training_packages_checks_everything_before_building(
        bucket: storage.Bucket, tmp_path: Path, case: str, match: str) -> None:
    package_path = _trainer(tmp_path / "app", setup_py=_FAILING_SETUP)
    kwargs: dict[str, object] = {"packages": [], "job_id": "j", "staging_bucket": bucket.name, "job_dir": None}
    if case == "too_many":
        kwargs["packages"] = [f"gs://deps-1/p{i}.tar.gz" for i in range(100)]
    elif case == "no_destination":
        kwargs["staging_bucket"] = None
    elif case == "bad_job_id":
        kwargs["job_id"] = "1x"
    elif case == "missing_bucket":
        kwargs["staging_bucket"] = "absent-bucket-1"
    else:
        kwargs["packages"] = ["s3://b/x.whl"]
    with pytest.raises(StagingError, match=match):
        StagingHook().stage_training_packages(package_path=str(package_path), **kwargs)  # type: ignore[arg-type]
    assert all_object_names(bucket) == []


def test_a_package_named_like_the_generated_trainer_tarball_is_rejected_before_the_build(
        bucket: storage.Bucket, tmp_path: Path) -> None:
    from airflow_provider_trainjobs.packaging import PackagingError

    package_path = _trainer(tmp_path / "app")
    (tmp_path / "trainer-0.0.0.tar.gz").write_bytes(b"an older build")
    with pytest.raises(StagingError, match="'trainer-0.0.0.tar.gz' is also the name of the package built from"):
        StagingHook().stage_training_packages(package_path=str(package_path),
                                              packages=[str(tmp_path / "trainer-0.0.0.tar.gz")],
                                              job_id="j", staging_bucket=bucket.name, job_dir=None)
    # With the project's own setup.py the name is only known after the build: still caught before uploading.
    (tmp_path / "app" / "setup.py").write_text("from setuptools import setup\nsetup(name='trainer', version='0.0.0',"
                                               " packages=['trainer'])\n")
    with pytest.raises(StagingError, match="share the name 'trainer-0.0.0.tar.gz'"):
        StagingHook().stage_training_packages(package_path=str(package_path),
                                              packages=[str(tmp_path / "trainer-0.0.0.tar.gz")],
                                              job_id="j", staging_bucket=bucket.name, job_dir=None)
    assert all_object_names(bucket) == []
    (package_path / "__init__.py").unlink()
    with pytest.raises(PackagingError, match="has no __init__.py"):
        StagingHook().stage_training_packages(package_path=str(package_path), packages=None, job_id="j",
                                              staging_bucket=bucket.name, job_dir=None)


def test_a_file_changed_after_planning_is_not_left_at_its_content_addressed_path(
        bucket: storage.Bucket, pkgs: dict[str, Path]) -> None:
    path = pkgs["trainer-0.1.tar.gz"]
    plan = plan_staging([str(path)], job_id="j", staging_bucket=bucket.name)
    path.write_bytes(b"edited after the plan was made")
    with pytest.raises(StagingError, match="does not match .* after upload"):
        StagingHook().stage_plan(plan)
    assert all_object_names(bucket) == []  # the planned sha256 path does not hold the edited bytes


# --- an unchanged package staged for a new job id: a server-side copy, 0 bytes uploaded ---------------------


def test_an_unchanged_package_for_a_new_job_is_copied_server_side_not_uploaded(
        bucket: storage.Bucket, pkgs: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = pkgs["trainer-0.1.tar.gz"]
    first = StagingHook().stage_packages([str(path)], job_id="run_1", staging_bucket=f"{bucket.name}/pre")
    assert first[0].uploaded
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert f"pre/_by_sha256/{sha}/trainer-0.1.tar.gz" in all_object_names(bucket)

    uploads: list[str] = []
    real_upload = storage.Blob.upload_from_filename
    monkeypatch.setattr(storage.Blob, "upload_from_filename",
                        lambda self, *a, **k: uploads.append(self.name) or real_upload(self, *a, **k))
    capsys.readouterr()
    second = StagingHook().stage_packages([str(path)], job_id="run_2", staging_bucket=f"{bucket.name}/pre")

    assert uploads == [] and not second[0].uploaded
    assert second[0].uri == f"gs://{bucket.name}/pre/run_2/{sha}/trainer-0.1.tar.gz"  # gcloud's path
    assert bucket.blob(f"pre/run_2/{sha}/trainer-0.1.tar.gz").download_as_bytes() == path.read_bytes()
    assert "copied server-side to" in capsys.readouterr().out


def test_a_content_addressed_copy_with_other_bytes_is_not_reused(bucket: storage.Bucket, pkgs: dict[str, Path]) -> None:
    path = pkgs["trainer-0.1.tar.gz"]
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    bucket.blob(f"_by_sha256/{sha}/trainer-0.1.tar.gz").upload_from_string(b"something else")

    staged = StagingHook().stage_packages([str(path)], job_id="j", staging_bucket=bucket.name)

    assert staged[0].uploaded
    assert bucket.blob(f"j/{sha}/trainer-0.1.tar.gz").download_as_bytes() == path.read_bytes()
    index = bucket.get_blob(f"_by_sha256/{sha}/trainer-0.1.tar.gz")  # rewritten to point at the upload
    assert index is not None and index.metadata == {"trainjobs-source": f"j/{sha}/trainer-0.1.tar.gz"}
