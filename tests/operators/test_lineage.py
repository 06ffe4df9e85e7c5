"""OpenLineage facets of the submit, tuning and package operators, with the OpenLineage provider installed,
and nothing imported (or emitted) without it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import TaskDeferred
from google.cloud import storage
from support import TRAINER_MODULE, TRAINER_PACKAGE, make_context, render_and_execute
from support.gcs_objects import put_gs_objects
from support.tuning import GRID

from airflow_provider_trainjobs.operators import (
    HyperparameterTuningJobOperator,
    PackageTrainingAppOperator,
    SubmitTrainingJobOperator,
)
from airflow_provider_trainjobs.operators._lineage import gcs_uris

pytestmark = pytest.mark.timeout(120)


def names(datasets: list[Any]) -> list[str]:
    return [f"{d.namespace}/{d.name}" for d in datasets]


@pytest.mark.parametrize("operator", [SubmitTrainingJobOperator, HyperparameterTuningJobOperator])
@pytest.mark.parametrize("deferrable", [False, True])
def test_inputs_are_packages_and_gs_args_and_the_output_is_the_job_dir(
    operator: type[SubmitTrainingJobOperator], deferrable: bool, new_bucket: Callable[[], storage.Bucket],
    unique_dag_id: str, local_conn: Any,
) -> None:
    bucket = new_bucket()
    extra = {"hyperparameters": GRID} if operator is HyperparameterTuningJobOperator else {}
    with DAG(unique_dag_id, schedule=None):
        op = operator(task_id="train", package_path=str(TRAINER_PACKAGE), module_name=TRAINER_MODULE,
                      staging_bucket=f"gs://{bucket.name}", job_dir=f"gs://{bucket.name}/out",
                      user_args=[f"--data=gs://{bucket.name}/data/train.csv,gs://{bucket.name}/data/eval.csv",
                                 "--x=0.3"], poll_interval=0.2, deferrable=deferrable, **extra)
    context = make_context(op)
    if deferrable:
        with pytest.raises(TaskDeferred) as deferred:
            render_and_execute(op, context)

        async def first_event() -> Any:
            return await anext(aiter(deferred.value.trigger.run()))

        job = op.execute_complete(context, event=asyncio.run(first_event()).payload)
    else:
        job = render_and_execute(op, context)

    lineage = op.get_openlineage_facets_on_complete(None)
    (package,) = job["trainingInput"]["packageUris"]
    assert names(lineage.inputs) == [package, f"gs://{bucket.name}/data/train.csv", f"gs://{bucket.name}/data/eval.csv"]
    assert names(lineage.outputs) == [f"gs://{bucket.name}/out"]


def test_the_package_operator_reads_what_it_passes_on_and_writes_what_it_stages(
    new_bucket: Callable[[], storage.Bucket], local_conn: Any,
) -> None:
    bucket = new_bucket()
    put_gs_objects(local_conn.storage_endpoint, "gs://shared-deps/dep-1.0.tar.gz")  # gs:// packages are checked
    with DAG("lineage_pkg", schedule=None):
        op = PackageTrainingAppOperator(task_id="package", package_path=str(TRAINER_PACKAGE),
                                        packages=["gs://shared-deps/dep-1.0.tar.gz"], staging_bucket=bucket.name)
    uris = op.execute(make_context(op))
    lineage = op.get_openlineage_facets_on_complete(None)
    assert names(lineage.inputs) == ["gs://shared-deps/dep-1.0.tar.gz"]
    assert names(lineage.outputs) == [uris[1]]
    assert lineage.outputs[0].namespace == f"gs://{bucket.name}"


def test_without_the_openlineage_provider_there_are_no_facets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.extractors", None)  # as if not installed
    with DAG("lineage_none", schedule=None):
        op = SubmitTrainingJobOperator(task_id="t", module_name="m")
    op._lineage_job = {"trainingInput": {"packageUris": ["gs://b-1/p.tar.gz"], "jobDir": "gs://b-1/out"}}
    assert op.get_openlineage_facets_on_complete(None) is None


def test_importing_the_operators_loads_no_openlineage_module() -> None:
    code = ("import sys, json; import airflow.sdk; before = set(sys.modules);"
            "from airflow_provider_trainjobs.operators import SubmitTrainingJobOperator, PackageTrainingAppOperator,"
            " HyperparameterTuningJobOperator;"
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    assert "airflow_provider_trainjobs.operators.submit" in loaded
    assert [m for m in loaded if "openlineage" in m] == []


@pytest.mark.parametrize(("values", "expected"), [
    (["--data=gs://bkt/a.csv,gs://bkt/b.csv"], ["gs://bkt/a.csv", "gs://bkt/b.csv"]),
    (["gs://bkt/a.csv", "--again=gs://bkt/a.csv", 3, None], ["gs://bkt/a.csv"]),
    (["--no-uri", "s3://other/x"], []),
    (["--q='gs://bkt/quoted dir'"], ["gs://bkt/quoted"]),
])
def test_gcs_uris_are_found_in_arguments(values: list[Any], expected: list[str]) -> None:
    assert gcs_uris(values) == expected
