"""PackageTrainingAppOperator: build + stage into the real storage emulator, templating, errors, cheap import."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from support.airflow_context import dag_run
from support.gcs_objects import put_gs_objects

from airflow_provider_trainjobs.hooks.staging import StagingError
from airflow_provider_trainjobs.naming import default_job_id
from airflow_provider_trainjobs.operators import PackageTrainingAppOperator
from airflow_provider_trainjobs.packaging import PackagingError

RUN_ID = "manual__2025-01-31T00:00:00+00:00"


def write_seed_project(root: Path, *, with_setup: bool = True) -> Path:
    trainer = root / "trainer"
    trainer.mkdir(parents=True)
    for name, text in {"__init__.py": "", "task.py": "from trainer import model\n", "model.py": "W = 1\n",
                       "util.py": "def f() -> int:\n    return 1\n"}.items():
        (trainer / name).write_text(text)
    if with_setup:
        (root / "setup.py").write_text(
            "from setuptools import find_packages, setup\n"
            "setup(name='trainer', version='0.1', packages=find_packages(), include_package_data=True)\n"
        )
    return trainer


@pytest.fixture
def bucket(storage_conn: dict[str, str]) -> storage.Bucket:
    client = storage.Client(project="local-project", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": storage_conn["storage_endpoint"]})
    return client.create_bucket(f"pkg-{uuid.uuid4().hex[:12]}")


def make_operator(dag_id: str = "train_census", **kwargs: Any) -> PackageTrainingAppOperator:
    with DAG(dag_id, schedule=None, params={"bucket": kwargs.pop("bucket_param", "")}):
        return PackageTrainingAppOperator(task_id="package", **kwargs)


def run(op: PackageTrainingAppOperator, run_id: str = RUN_ID) -> list[str]:
    """What the task runner does for this operator: render templates, then execute."""
    context: Any = {"run_id": run_id, "params": op.params, "ds": "2025-01-31"}
    op.render_template_fields(context)
    return op.execute(context)


def blob_of(bucket: storage.Bucket, uri: str) -> storage.Blob:
    blob = bucket.get_blob(uri.split(f"gs://{bucket.name}/", 1)[1])
    assert blob is not None, f"{uri} is not in the emulator"
    return blob


def test_packages_and_stages_the_seed_layout_with_extra_packages(bucket: storage.Bucket, tmp_path: Path) -> None:
    trainer = write_seed_project(tmp_path / "app")
    wheel = tmp_path / "dep2-2.0-py3-none-any.whl"
    wheel.write_bytes(b"a wheel")
    put_gs_objects(bucket.client._connection.API_BASE_URL, "gs://shared-deps/dep1-1.0.tar.gz")  # gs:// are checked
    op = make_operator(package_path=str(trainer), packages=[str(wheel), "gs://shared-deps/dep1-1.0.tar.gz"],
                       staging_bucket="gs://{{ params.bucket }}/staging", bucket_param=bucket.name)

    uris = run(op)

    job_id = default_job_id("train_census", "package", RUN_ID)
    assert uris[0] == "gs://shared-deps/dep1-1.0.tar.gz"
    assert uris[1].startswith(f"gs://{bucket.name}/staging/{job_id}/") and uris[1].endswith("/dep2-2.0-py3-none-any.whl")
    assert uris[2].endswith("/trainer-0.1.tar.gz")
    assert uris[1].rsplit("/", 1)[0] == uris[2].rsplit("/", 1)[0]  # one digest over both local files
    assert blob_of(bucket, uris[1]).download_as_bytes() == b"a wheel"
    with tarfile.open(fileobj=io.BytesIO(blob_of(bucket, uris[2]).download_as_bytes())) as tar:
        assert "trainer-0.1/trainer/task.py" in tar.getnames()


def test_rerun_returns_the_same_uris_and_uploads_nothing(bucket: storage.Bucket, tmp_path: Path) -> None:
    trainer = write_seed_project(tmp_path / "app")
    first = run(make_operator(package_path=str(trainer), staging_bucket=bucket.name))
    generation = blob_of(bucket, first[0]).generation

    second = run(make_operator(package_path=str(trainer), staging_bucket=bucket.name))

    assert second == first
    assert blob_of(bucket, second[0]).generation == generation
    # Another run is another job id, hence another path.
    assert run(make_operator(package_path=str(trainer), staging_bucket=bucket.name), "manual__other") != first


def test_explicit_templated_job_id_job_dir_and_no_setup_py(bucket: storage.Bucket, tmp_path: Path) -> None:
    trainer = write_seed_project(tmp_path / "app", with_setup=False)
    op = make_operator(package_path=str(trainer), job_id="census_{{ ds_nodash }}",
                       job_dir=f"gs://{bucket.name}/jobs/{{{{ ds }}}}")

    context: Any = {"run_id": RUN_ID, "params": {}, "ds": "2025-01-31", "ds_nodash": "20250131"}
    op.render_template_fields(context)
    assert op.job_id == "census_20250131"
    uris = op.execute(context)

    assert len(uris) == 1
    assert uris[0].startswith(f"gs://{bucket.name}/jobs/2025-01-31/packages/")
    assert uris[0].endswith("/trainer-0.0.0.tar.gz")
    blob_of(bucket, uris[0])
    assert not (tmp_path / "app" / "setup.py").exists()


def test_template_fields_cover_every_argument_but_the_connection() -> None:
    assert set(PackageTrainingAppOperator.template_fields) == {
        "package_path", "packages", "staging_bucket", "job_dir", "job_id", "project_id", "impersonation_chain"}


def test_nothing_to_package_is_an_error(storage_conn: dict[str, str]) -> None:
    with pytest.raises(AirflowFailException, match="package_path/packages"):
        run(make_operator(staging_bucket="b-1"))


@pytest.mark.parametrize("packages", [" , ", "", ["  "], [" ", ""]])
def test_blank_rendered_packages_alone_fail_at_once_as_nothing_to_package(storage_conn: dict[str, str],
                                                                         packages: Any) -> None:
    with pytest.raises(AirflowFailException, match="package_path/packages: give a trainer package dir"):
        run(make_operator(packages=packages, staging_bucket="b-1"))


def test_blank_entries_of_packages_are_dropped(bucket: storage.Bucket, tmp_path: Path) -> None:
    trainer = write_seed_project(tmp_path / "app")
    put_gs_objects(bucket.client._connection.API_BASE_URL, "gs://shared-deps/dep1-1.0.tar.gz")  # gs:// are checked
    uris = run(make_operator(package_path=str(trainer), packages=" , gs://shared-deps/dep1-1.0.tar.gz, ",
                             staging_bucket=bucket.name))
    assert uris[0] == "gs://shared-deps/dep1-1.0.tar.gz" and len(uris) == 2 and uris[1].endswith("trainer-0.1.tar.gz")


def test_missing_destination_fails_before_building(storage_conn: dict[str, str], tmp_path: Path) -> None:
    trainer = write_seed_project(tmp_path / "app")
    (tmp_path / "app" / "setup.py").write_text("raise SystemExit('must not be built')\n")
    # A StagingError (not a PackagingError) proves the build never started; no retry can fix it.
    with pytest.raises(AirflowFailException, match="a staging bucket or job dir is required") as failed:
        run(make_operator(package_path=str(trainer)))
    assert isinstance(failed.value.__cause__, StagingError)


def test_the_built_package_counts_toward_the_100_uri_limit(bucket: storage.Bucket, tmp_path: Path) -> None:
    trainer = write_seed_project(tmp_path / "app")
    (tmp_path / "app" / "setup.py").write_text("raise SystemExit('must not be built')\n")
    packages = [f"gs://deps-bucket/dep{i}-1.0.tar.gz" for i in range(100)]
    with pytest.raises(AirflowFailException, match="at most 100 package URIs are allowed, got 101") as failed:
        run(make_operator(package_path=str(trainer), packages=packages, staging_bucket=bucket.name))
    assert isinstance(failed.value.__cause__, StagingError)
    assert list(bucket.client.list_blobs(bucket.name)) == []


def test_whitespace_around_templated_destinations_is_ignored(bucket: storage.Bucket, tmp_path: Path) -> None:
    trainer = write_seed_project(tmp_path / "app")
    op = make_operator(package_path=f" {trainer} ", staging_bucket=" gs://{{ params.bucket }}/staging\n",
                       job_id=" census_1 ", bucket_param=bucket.name)
    (uri,) = run(op)
    assert uri.startswith(f"gs://{bucket.name}/staging/census_1/") and uri.endswith("/trainer-0.1.tar.gz")
    blob_of(bucket, uri)


def test_bad_package_fails_before_any_upload(bucket: storage.Bucket, tmp_path: Path) -> None:
    trainer = write_seed_project(tmp_path / "app")
    (trainer / "__init__.py").unlink()
    (tmp_path / "x.whl").write_bytes(b"wheel")
    with pytest.raises(AirflowFailException, match=r"has no __init__\.py") as failed:
        run(make_operator(package_path=str(trainer), packages=[str(tmp_path / "x.whl")], staging_bucket=bucket.name))
    assert isinstance(failed.value.__cause__, PackagingError)
    assert list(bucket.client.list_blobs(bucket.name)) == []


def test_bad_staging_argument_fails_before_any_upload(bucket: storage.Bucket, tmp_path: Path) -> None:
    trainer = write_seed_project(tmp_path / "app")
    with pytest.raises(AirflowFailException,
                       match=r"packages\[0\]: 'gs://b': bucket 'b' is not a valid bucket name") as failed:
        run(make_operator(package_path=str(trainer), packages=["gs://b"], staging_bucket=bucket.name))
    assert isinstance(failed.value.__cause__, StagingError)
    assert list(bucket.client.list_blobs(bucket.name)) == []


def test_importing_the_operator_loads_no_heavy_library() -> None:
    code = (
        "import sys, json; import airflow.sdk; before = set(sys.modules);"
        "from airflow_provider_trainjobs.operators import PackageTrainingAppOperator;"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    heavy = [m for m in loaded if m.split(".")[0] in ("googleapiclient", "setuptools", "optuna")
             or m.startswith("google.cloud")]
    assert "airflow_provider_trainjobs.operators.package" in loaded
    assert heavy == []


def test_the_docs_dag_snippet_runs(storage_conn: dict[str, str], tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "packaging.md").read_text()
    snippet = docs.split("```python\n", 1)[1].split("```", 1)[0]
    write_seed_project(tmp_path / "trainer_app")
    put_gs_objects(storage_conn["storage_endpoint"], "gs://shared-deps/dep1-1.0.tar.gz")  # gs:// are checked
    namespace: dict[str, Any] = {"__file__": str(tmp_path / "dag.py"), "__name__": "docs_dag"}
    exec(compile(snippet, "docs/packaging.md", "exec"), namespace)
    client = storage.Client(project="local-project", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": storage_conn["storage_endpoint"]})
    if client.lookup_bucket("census-staging") is None:
        client.create_bucket("census-staging")

    op = namespace["package"]
    context: Any = {"run_id": RUN_ID, "params": {}, "dag_run": dag_run()}  # the docs template run_after
    op.render_template_fields(context)
    uris = op.execute(context)

    assert uris[0] == "gs://shared-deps/dep1-1.0.tar.gz"
    assert uris[1].startswith("gs://census-staging/census_20250201T000000/") and uris[1].endswith("/trainer-0.1.tar.gz")
