"""The pure staging plan: one packages splitter, destinations and checks, with no Google library loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_trainjobs.staging_plan import (
    StagingError,
    check_staging_args,
    split_packages,
    staging_prefix,
)


@pytest.mark.parametrize(("packages", "expected"), [
    (None, []),
    ("", []),
    (" , ", []),
    ("gs://bkt/a.tar.gz, ./b.whl ,", ["gs://bkt/a.tar.gz", "./b.whl"]),
    (["gs://bkt/x.tar.gz", " "], ["gs://bkt/x.tar.gz"]),
    ([" gs://bkt/x.tar.gz ", "", Path("dist/y.whl")], ["gs://bkt/x.tar.gz", "dist/y.whl"]),
    ((), []),
])
def test_split_packages_strips_and_drops_blank_entries(packages: Any, expected: list[str]) -> None:
    assert split_packages(packages) == expected


def test_entries_that_are_not_paths_are_kept_for_the_check_to_refuse_by_index() -> None:
    assert split_packages(["gs://bkt/x.tar.gz", 3]) == ["gs://bkt/x.tar.gz", 3]
    with pytest.raises(StagingError, match=r"packages\[1\]: must be a non-empty path or gs:// URI, got 3"):
        check_staging_args(["gs://bkt/x.tar.gz", 3])


def test_check_staging_args_splits_with_the_same_splitter() -> None:
    args = check_staging_args(["gs://bkt/x.tar.gz", " "])
    assert args.passthrough == ("gs://bkt/x.tar.gz",) and args.local == () and args.destination is None


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"job_id": "j1", "staging_bucket": " gs://stage/pre ", "job_dir": None}, ("stage", "pre/j1")),
    ({"job_id": "j1", "staging_bucket": "stage", "job_dir": "gs://out/dir"}, ("stage", "j1")),
    ({"job_id": None, "staging_bucket": None, "job_dir": "gs://out/dir/"}, ("out", "dir/packages")),
])
def test_staging_prefix(kwargs: dict[str, Any], expected: tuple[str, str]) -> None:
    assert staging_prefix(**kwargs) == expected


@pytest.mark.parametrize(("bucket", "rule"), [
    ("gs://ab", "not a valid bucket name"),
    ("gs://Upper", "not a valid bucket name"),
    ("gs://google-x", "not a valid bucket name"),
    ("gs://192.168.1.1", "not a valid bucket name"),
])
def test_bad_staging_buckets_are_refused_naming_the_argument(bucket: str, rule: str) -> None:
    with pytest.raises(StagingError, match=f"staging_bucket: .*{rule}"):
        staging_prefix(job_id="j1", staging_bucket=bucket, job_dir=None)


def test_the_plan_module_loads_no_google_library() -> None:
    code = ("import sys, json; before = set(sys.modules); import airflow_provider_trainjobs.staging_plan;"
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    assert "airflow_provider_trainjobs.staging_plan" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("google", "googleapiclient", "setuptools")] == []
