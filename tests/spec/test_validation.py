"""validate_job: every Job resource rule of SPEC.md, each error naming its field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_provider_trainjobs.spec import InvalidJobSpec, validate_job

BASE: dict[str, Any] = {
    "jobId": "census_1",
    "trainingInput": {
        "packageUris": ["gs://bucket/packages/trainer-0.1.tar.gz"],
        "pythonModule": "trainer.task",
        "region": "us-central1",
    },
}


def job_with(training_input: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    job = copy.deepcopy(BASE)
    job["trainingInput"].update(training_input or {})
    job.update(top)
    return job


def error_for(job: Any) -> InvalidJobSpec:
    with pytest.raises(InvalidJobSpec) as info:
        validate_job(job)
    return info.value


def test_minimal_job_is_valid() -> None:
    validate_job(job_with())


@pytest.mark.parametrize("job_id", ["a", "Census_2024_01_31", "x" * 128, "A1_b2"])
def test_valid_job_ids(job_id: str) -> None:
    validate_job(job_with(jobId=job_id))


@pytest.mark.parametrize("job_id", ["1job", "_job", "my-job", "my job", "job.v1", "x" * 129, "", 5])
def test_invalid_job_ids(job_id: Any) -> None:
    err = error_for(job_with(jobId=job_id))
    assert err.field == "jobId"
    assert "letters, digits and underscores" in str(err)


def test_missing_training_input() -> None:
    err = error_for({"jobId": "j"})
    assert (err.field, err.rule) == ("trainingInput", "required: the training job's TrainingInput")


def test_prediction_jobs_are_refused() -> None:
    err = error_for(job_with(predictionInput={"region": "us-central1"}))
    assert err.field == "predictionInput"


def test_body_must_be_a_mapping() -> None:
    assert error_for(["j"]).field == "(body)"


def test_region_is_required() -> None:
    job = job_with()
    del job["trainingInput"]["region"]
    err = error_for(job)
    assert err.field == "trainingInput.region"
    assert "required" in err.rule


def test_package_or_container_is_required() -> None:
    job = job_with()
    del job["trainingInput"]["packageUris"]
    del job["trainingInput"]["pythonModule"]
    err = error_for(job)
    assert [f for f, _ in err.problems] == ["trainingInput.packageUris", "trainingInput.pythonModule"]
    assert "masterConfig.imageUri" in str(err)


def test_python_module_without_packages() -> None:
    job = job_with()
    del job["trainingInput"]["packageUris"]
    assert error_for(job).field == "trainingInput.packageUris"


def test_custom_container_job_is_valid_without_packages() -> None:
    job = {
        "jobId": "container_job",
        "trainingInput": {
            "scaleTier": "CUSTOM",
            "masterType": "n1-standard-8",
            "masterConfig": {"imageUri": "gcr.io/proj/trainer:latest", "containerArgs": ["--epochs", "3"]},
            "region": "us-central1",
        },
    }
    validate_job(job)


@pytest.mark.parametrize("field", ["packageUris", "pythonModule", "runtimeVersion"])
def test_custom_container_rejects_package_fields(field: str) -> None:
    values = {"packageUris": ["gs://b/p.tar.gz"], "pythonModule": "trainer.task", "runtimeVersion": "2.4"}
    job = {
        "jobId": "container_job",
        "trainingInput": {
            "masterConfig": {"imageUri": "gcr.io/p/t:1"},
            "region": "us-central1",
            field: values[field],
        },
    }
    err = error_for(job)
    assert err.field == f"trainingInput.{field}"
    assert "custom container" in err.rule


def test_custom_requires_master_type() -> None:
    err = error_for(job_with({"scaleTier": "CUSTOM"}))
    assert (err.field, err.rule) == ("trainingInput.masterType", "required when scaleTier is CUSTOM")


@pytest.mark.parametrize(
    ("count_field", "type_field"),
    [
        ("workerCount", "workerType"),
        ("parameterServerCount", "parameterServerType"),
        ("evaluatorCount", "evaluatorType"),
    ],
)
@pytest.mark.parametrize("count", [3, "3"])
def test_replica_count_requires_its_type(count_field: str, type_field: str, count: Any) -> None:
    err = error_for(job_with({"scaleTier": "CUSTOM", "masterType": "standard", count_field: count}))
    assert err.field == f"trainingInput.{type_field}"
    assert err.rule == f"required when {count_field} is 3"


def test_zero_count_needs_no_type() -> None:
    validate_job(job_with({"scaleTier": "CUSTOM", "masterType": "standard", "workerCount": 0}))


def test_negative_count() -> None:
    err = error_for(job_with({"scaleTier": "CUSTOM", "masterType": "m", "workerCount": -1}))
    assert err.field == "trainingInput.workerCount"
    assert "0 or more" in err.rule


@pytest.mark.parametrize("tier", ["BASIC", "STANDARD_1", "PREMIUM_1", "BASIC_GPU", "BASIC_TPU", None])
@pytest.mark.parametrize(
    "machine_field", ["masterType", "workerType", "parameterServerType", "evaluatorType"]
)
def test_non_custom_tiers_reject_machine_types(tier: str | None, machine_field: str) -> None:
    training_input: dict[str, Any] = {machine_field: "complex_model_m"}
    if tier:
        training_input["scaleTier"] = tier
    err = error_for(job_with(training_input))
    assert err.field == f"trainingInput.{machine_field}"
    assert "only allowed with scaleTier CUSTOM" in err.rule
    assert (tier or "unset (BASIC)") in err.rule


def test_full_custom_cluster_is_valid() -> None:
    validate_job(
        job_with(
            {
                "scaleTier": "CUSTOM",
                "masterType": "n1-highmem-8",
                "workerType": "n1-highmem-8",
                "workerCount": "4",
                "parameterServerType": "n1-standard-4",
                "parameterServerCount": 2,
                "evaluatorType": "n1-standard-4",
                "evaluatorCount": 1,
                "masterConfig": {
                    "acceleratorConfig": {"count": "2", "type": "NVIDIA_TESLA_T4"},
                    "diskConfig": {"bootDiskSizeGb": 200, "bootDiskType": "pd-ssd"},
                },
                "useChiefInTfConfig": True,
            }
        )
    )


def test_accelerator_rules() -> None:
    err = error_for(
        job_with({"masterConfig": {"acceleratorConfig": {"count": 0, "type": "NVIDIA_TESLA_T4"}}})
    )
    assert err.field == "trainingInput.masterConfig.acceleratorConfig.count"
    err = error_for(job_with({"workerConfig": {"acceleratorConfig": {"count": 1}}}))
    assert err.field == "trainingInput.workerConfig.acceleratorConfig.type"
    err = error_for(job_with({"masterConfig": {"acceleratorConfig": {"count": 1, "type": "NVIDIA_FOO"}}}))
    assert err.field == "trainingInput.masterConfig.acceleratorConfig.type"
    assert "is not one of" in err.rule


def test_disk_size_must_be_positive() -> None:
    err = error_for(job_with({"masterConfig": {"diskConfig": {"bootDiskSizeGb": 0}}}))
    assert err.field == "trainingInput.masterConfig.diskConfig.bootDiskSizeGb"


@pytest.mark.parametrize("wait", ["1800s", "3600s", "1800.5s"])
def test_max_wait_time_at_least_1800s(wait: str) -> None:
    validate_job(job_with({"scheduling": {"maxWaitTime": wait, "maxRunningTime": "60s"}}))


def test_max_wait_time_too_short() -> None:
    err = error_for(job_with({"scheduling": {"maxWaitTime": "1799s"}}))
    assert err.field == "trainingInput.scheduling.maxWaitTime"
    assert "at least 1800s" in err.rule


@pytest.mark.parametrize("value", ["3600", "1h", "3600 s", "-5s", 3600])
def test_duration_format(value: Any) -> None:
    err = error_for(job_with({"scheduling": {"maxRunningTime": value}}))
    assert err.field == "trainingInput.scheduling.maxRunningTime"


def test_max_running_time_zero() -> None:
    err = error_for(job_with({"scheduling": {"maxRunningTime": "0s"}}))
    assert err.rule == "'0s' must be more than 0s"


@pytest.mark.parametrize("priority", [0, 1000, "500"])
def test_priority_in_range(priority: Any) -> None:
    validate_job(job_with({"scheduling": {"priority": priority}}))


@pytest.mark.parametrize("priority", [-1, 1001])
def test_priority_out_of_range(priority: int) -> None:
    err = error_for(job_with({"scheduling": {"priority": priority}}))
    assert err.field == "trainingInput.scheduling.priority"
    assert "[0, 1000]" in err.rule


def test_package_uris_must_be_gcs_objects() -> None:
    err = error_for(job_with({"packageUris": ["gs://b/ok.tar.gz", "/home/me/trainer.tar.gz"]}))
    assert err.field == "trainingInput.packageUris[1]"
    assert "gs://BUCKET/OBJECT" in err.rule
    err = error_for(job_with({"packageUris": ["gs://bucket-only"]}))
    assert err.field == "trainingInput.packageUris[0]"


def test_at_most_100_package_uris() -> None:
    validate_job(job_with({"packageUris": [f"gs://b/p{i}.tar.gz" for i in range(100)]}))
    err = error_for(job_with({"packageUris": [f"gs://b/p{i}.tar.gz" for i in range(101)]}))
    assert err.field == "trainingInput.packageUris"
    assert "at most 100" in err.rule


def test_job_dir_must_be_gcs() -> None:
    validate_job(job_with({"jobDir": "gs://bucket"}))
    err = error_for(job_with({"jobDir": "/tmp/out"}))
    assert err.field == "trainingInput.jobDir"


def test_python_module_must_be_a_module_name() -> None:
    err = error_for(job_with({"pythonModule": "trainer/task.py"}))
    assert err.field == "trainingInput.pythonModule"


def test_service_account_must_be_an_email() -> None:
    err = error_for(job_with({"serviceAccount": "trainer"}))
    assert err.field == "trainingInput.serviceAccount"


def test_valid_labels() -> None:
    validate_job(
        job_with(labels={"team": "ml-platform", "run_id": "", "k" + "a" * 62: "v" * 63, "été": "données"})
    )


@pytest.mark.parametrize(
    ("labels", "field"),
    [
        ({"Team": "ml"}, "labels.Team"),
        ({"1team": "ml"}, "labels.1team"),
        ({"team": "ML"}, "labels.team"),
        ({"team": "a b"}, "labels.team"),
        ({"k" * 64: "v"}, "labels." + "k" * 64),
        ({"team": "v" * 64}, "labels.team"),
        ({"": "v"}, "labels."),
        ({"team": 5}, "labels.team"),
    ],
)
def test_label_rules(labels: dict[str, Any], field: str) -> None:
    assert error_for(job_with(labels=labels)).field == field


def test_at_most_64_labels() -> None:
    validate_job(job_with(labels={f"l{i}": "v" for i in range(64)}))
    err = error_for(job_with(labels={f"l{i}": "v" for i in range(65)}))
    assert err.field == "labels"
    assert "at most 64" in err.rule


def test_schema_problems_are_reported_after_rules() -> None:
    err = error_for(job_with({"scaleTier": "HUGE", "foo": 1}, jobId="1bad"))
    assert err.field == "jobId"
    fields = [f for f, _ in err.problems]
    assert fields == ["jobId", "trainingInput.scaleTier", "trainingInput.foo"]
    assert "and 2 more" in str(err)
    assert "'HUGE' is not one of BASIC" in str(err)


def test_output_fields_from_a_described_job_are_accepted() -> None:
    validate_job(
        job_with(
            state="SUCCEEDED",
            createTime="2024-01-31T12:00:00Z",
            etag="YWJj",
            trainingOutput={"completedTrialCount": "2", "consumedMLUnits": 0.5},
        )
    )


# -- the backend picks the accelerator enum ----------------------------------------------------------------


def _with_accelerator(kind: str) -> dict[str, Any]:
    return job_with({"scaleTier": "CUSTOM", "masterType": "n1-standard-8",
                     "masterConfig": {"acceleratorConfig": {"count": 1, "type": kind}}})


def test_accelerator_enum_is_ml_v1_on_ai_platform_and_aiplatform_v1_on_vertex() -> None:
    vertex_only = _with_accelerator("NVIDIA_H100_80GB")
    with pytest.raises(InvalidJobSpec) as info:
        validate_job(vertex_only)  # backend="ai-platform" is the default
    assert info.value.field == "trainingInput.masterConfig.acceleratorConfig.type"
    assert "TPU_V2_POD" in str(info.value)  # the ml v1 enum is the one listed
    validate_job(vertex_only, backend="vertex")

    ml_only = _with_accelerator("TPU_V2_POD")  # in the ml v1 enum only
    validate_job(ml_only, backend="ai-platform")
    with pytest.raises(InvalidJobSpec) as info:
        validate_job(ml_only, backend="vertex")
    assert info.value.field == "trainingInput.masterConfig.acceleratorConfig.type"
    assert "is not an aiplatform v1 MachineSpec.acceleratorType" in str(info.value)
    assert len(info.value.problems) == 1  # not reported a second time by the ml v1 schema


def test_other_rules_are_the_same_on_both_backends() -> None:
    bad = job_with({"scaleTier": "CUSTOM", "masterType": "n1-standard-8",
                    "masterConfig": {"acceleratorConfig": {"count": 0, "type": "NVIDIA_L4"}}})
    for backend in ("ai-platform", "vertex"):
        with pytest.raises(InvalidJobSpec) as info:
            validate_job(bad, backend=backend)
        assert info.value.field == "trainingInput.masterConfig.acceleratorConfig.count"
    with pytest.raises(ValueError, match="backend: must be one of ai-platform, vertex, got 'ml'"):
        validate_job(BASE, backend="ml")
