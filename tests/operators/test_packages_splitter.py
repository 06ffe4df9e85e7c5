"""Every operator reads ``packages`` with the one splitter (issue 9.4): the same list is accepted everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk import DAG
from support import make_context
from support.gcs_objects import put_gs_objects

from airflow_provider_trainjobs.operators import PackageTrainingAppOperator, SubmitTrainingJobOperator

PACKAGES = ["gs://bkt-1/x.tar.gz", " "]


def test_package_operator_accepts_a_blank_entry(local_conn: Any) -> None:
    put_gs_objects(local_conn.storage_endpoint, PACKAGES[0])  # gs:// packages are checked before staging
    with DAG("split_pkg", schedule=None):
        op = PackageTrainingAppOperator(task_id="package", packages=PACKAGES)
    assert op.execute(make_context(op)) == ["gs://bkt-1/x.tar.gz"]


@pytest.mark.parametrize("packages", [PACKAGES, "gs://bkt-1/x.tar.gz, "])
def test_submit_operator_accepts_the_same_packages(local_conn: Any, packages: Any) -> None:
    put_gs_objects(local_conn.storage_endpoint, PACKAGES[0])  # gs:// packages are checked before staging
    with DAG("split_submit", schedule=None):
        op = SubmitTrainingJobOperator(task_id="train", packages=packages, module_name="trainer.task")
    body = op.prepare_job(make_context(op))  # validation and staging; nothing is submitted
    assert body["trainingInput"]["packageUris"] == ["gs://bkt-1/x.tar.gz"]
