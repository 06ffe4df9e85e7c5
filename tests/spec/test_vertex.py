"""ml v1 Job <-> Vertex AI CustomJob / HyperparameterTuningJob translation (spec/vertex.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import SEED_004_CONFIG_YAML

from airflow_provider_trainjobs.spec import InvalidJobSpec, validate_resource
from airflow_provider_trainjobs.spec.vertex import (
    TRAINING_INPUT_ENV,
    VERTEX_STATES,
    VERTEX_TERMINAL_STATES,
    from_vertex_job,
    to_vertex_job,
    vertex_kind,
    vertex_state,
)

PACKAGE = "gs://my-bucket/trainer/path/package-0.0.0.tar.gz"
JOB_DIR = "gs://my-bucket/training/job/directory"
TF24_CPU = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-4:latest"
TF24_GPU = "us-docker.pkg.dev/vertex-ai/training/tf-gpu.2-4:latest"


# A seed-style hptuning_config.yaml (the Job resource shape gcloud's --config takes).
HPTUNING_CONFIG = """
trainingInput:
  scaleTier: BASIC
  runtimeVersion: '2.4'
  pythonVersion: '3.7'
  hyperparameters:
    goal: MINIMIZE
    hyperparameterMetricTag: rmse
    maxTrials: 6
    maxParallelTrials: 2
    maxFailedTrials: 1
    enableTrialEarlyStopping: true
    algorithm: RANDOM_SEARCH
    params:
      - parameterName: learning_rate
        type: DOUBLE
        minValue: 0.0001
        maxValue: 0.1
        scaleType: UNIT_LOG_SCALE
      - parameterName: hidden_units
        type: INTEGER
        minValue: 16
        maxValue: 256
        scaleType: UNIT_LINEAR_SCALE
      - parameterName: optimizer
        type: CATEGORICAL
        categoricalValues: [adam, sgd]
      - parameterName: batch_size
        type: DISCRETE
        discreteValues: [32, 64, 128]
"""


def seed_job(config: str = SEED_004_CONFIG_YAML, **extra: Any) -> dict[str, Any]:
    """The Job gcloud would send for a config file plus the seed's flags (module, packages, region, job dir)."""
    job: dict[str, Any] = yaml.safe_load(config)
    job["jobId"] = "my_job_name"
    job["trainingInput"].update(
        packageUris=[PACKAGE],
        pythonModule="trainer.task",
        args=["--arg1", "value1", "--arg2", "value2"],
        region="us-central1",
        jobDir=JOB_DIR,
        **extra,
    )
    return job


def basic_job(**training_input: Any) -> dict[str, Any]:
    ti: dict[str, Any] = {
        "scaleTier": "BASIC",
        "packageUris": [PACKAGE],
        "pythonModule": "trainer.task",
        "region": "us-central1",
        "runtimeVersion": "2.4",
    }
    ti.update(training_input)
    return {"jobId": "job_1", "trainingInput": ti}


def assert_valid(body: dict[str, Any], kind: str) -> None:
    schema = "CustomJob" if kind == "customJobs" else "HyperparameterTuningJob"
    assert validate_resource("aiplatform.v1", schema, body, reject_read_only=True) == []


def without_env(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` minus the trainingInput copy in pool 0's environment (checked separately)."""
    body = copy.deepcopy(body)
    spec = body.get("jobSpec") or body["trialJobSpec"]
    code = spec["workerPoolSpecs"][0].get("pythonPackageSpec") or spec["workerPoolSpecs"][0]["containerSpec"]
    env = code.pop("env")
    assert [var["name"] for var in env] == [TRAINING_INPUT_ENV]
    return body


def package(image: str, args: list[str]) -> dict[str, Any]:
    return {"executorImageUri": image, "packageUris": [PACKAGE], "pythonModule": "trainer.task", "args": args}


SEED_ARGS = ["--arg1", "value1", "--arg2", "value2", "--job-dir", JOB_DIR]


# -- the seed examples, written out by hand -------------------------------------------------------------


def test_seed_004_custom_cluster_with_scheduling() -> None:
    job = seed_job()
    body = to_vertex_job(job)
    assert vertex_kind(job) == "customJobs"
    assert_valid(body, "customJobs")
    assert without_env(body) == {
        "displayName": "my_job_name",
        "labels": {"trainjobs_job_id": "my_job_name", "trainjobs_max_wait_time": "3600s"},
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {"machineType": "n1-highcpu-16"},
                    "replicaCount": "1",
                    "pythonPackageSpec": package(TF24_CPU, SEED_ARGS),
                },
                {
                    "machineSpec": {"machineType": "n1-highcpu-16"},
                    "replicaCount": "9",
                    "pythonPackageSpec": package(TF24_CPU, SEED_ARGS),
                },
                {
                    "machineSpec": {"machineType": "n1-highmem-8"},
                    "replicaCount": "3",
                    "pythonPackageSpec": package(TF24_CPU, SEED_ARGS),
                },
            ],
            "scheduling": {"timeout": "7200s"},
            "baseOutputDirectory": {"outputUriPrefix": JOB_DIR},
        },
    }
    env = body["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]["env"][0]
    assert json.loads(env["value"]) == job["trainingInput"]


def test_seed_style_hptuning_config() -> None:
    job = seed_job(HPTUNING_CONFIG)
    body = to_vertex_job(job)
    assert vertex_kind(job) == "hyperparameterTuningJobs"
    assert_valid(body, "hyperparameterTuningJobs")
    assert without_env(body) == {
        "displayName": "my_job_name",
        "labels": {"trainjobs_job_id": "my_job_name"},
        "studySpec": {
            "metrics": [{"metricId": "rmse", "goal": "MINIMIZE"}],
            "parameters": [
                {
                    "parameterId": "learning_rate",
                    "doubleValueSpec": {"minValue": 0.0001, "maxValue": 0.1},
                    "scaleType": "UNIT_LOG_SCALE",
                },
                {
                    "parameterId": "hidden_units",
                    "integerValueSpec": {"minValue": "16", "maxValue": "256"},
                    "scaleType": "UNIT_LINEAR_SCALE",
                },
                {"parameterId": "optimizer", "categoricalValueSpec": {"values": ["adam", "sgd"]}},
                {"parameterId": "batch_size", "discreteValueSpec": {"values": [32.0, 64.0, 128.0]}},
            ],
            "algorithm": "RANDOM_SEARCH",
            "medianAutomatedStoppingSpec": {"useElapsedDuration": False},
        },
        "maxTrialCount": 6,
        "parallelTrialCount": 2,
        "maxFailedTrialCount": 1,
        "trialJobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {"machineType": "n1-standard-4"},
                    "replicaCount": "1",
                    "pythonPackageSpec": package(TF24_CPU, SEED_ARGS),
                }
            ],
            "baseOutputDirectory": {"outputUriPrefix": JOB_DIR},
        },
    }


# -- field by field -------------------------------------------------------------------------------------


def pools(body: dict[str, Any]) -> list[dict[str, Any]]:
    return (body.get("jobSpec") or body["trialJobSpec"])["workerPoolSpecs"]


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        ("BASIC", [("n1-standard-4", "1", None)]),
        ("STANDARD_1", [("n1-highcpu-8", "1", None), ("n1-highcpu-8", "4", None), ("n1-standard-4", "3", None)]),
        (
            "PREMIUM_1",
            [("n1-highcpu-16", "1", None), ("n1-highcpu-16", "19", None), ("n1-highmem-8", "11", None)],
        ),
        ("BASIC_GPU", [("n1-standard-8", "1", ("NVIDIA_TESLA_K80", 1))]),
    ],
)
def test_scale_tiers(tier: str, expected: list[tuple[str, str, tuple[str, int] | None]]) -> None:
    body = to_vertex_job(basic_job(scaleTier=tier))
    assert_valid(body, "customJobs")
    got = []
    for pool in pools(body):
        spec = pool["machineSpec"]
        accelerator = (spec["acceleratorType"], spec["acceleratorCount"]) if "acceleratorType" in spec else None
        got.append((spec["machineType"], pool["replicaCount"], accelerator))
    assert got == expected
    gpu = tier == "BASIC_GPU"
    assert pools(body)[0]["pythonPackageSpec"]["executorImageUri"] == (TF24_GPU if gpu else TF24_CPU)


def test_unset_scale_tier_means_basic() -> None:
    job = basic_job()
    del job["trainingInput"]["scaleTier"]
    assert [p["machineSpec"] for p in pools(to_vertex_job(job))] == [{"machineType": "n1-standard-4"}]


@pytest.mark.parametrize(
    ("legacy", "machine_type", "accelerator"),
    [
        ("standard", "n1-standard-4", None),
        ("large_model", "n1-highmem-8", None),
        ("complex_model_s", "n1-highcpu-8", None),
        ("complex_model_m", "n1-highcpu-16", None),
        ("complex_model_l", "n1-highcpu-32", None),
        ("standard_gpu", "n1-standard-8", ("NVIDIA_TESLA_K80", 1)),
        ("complex_model_m_gpu", "n1-highcpu-16", ("NVIDIA_TESLA_K80", 4)),
        ("complex_model_l_gpu", "n1-highcpu-32", ("NVIDIA_TESLA_K80", 8)),
        ("standard_p100", "n1-standard-8", ("NVIDIA_TESLA_P100", 1)),
        ("complex_model_m_p100", "n1-highcpu-16", ("NVIDIA_TESLA_P100", 4)),
        ("standard_v100", "n1-standard-4", ("NVIDIA_TESLA_V100", 1)),
        ("large_model_v100", "n1-highmem-8", ("NVIDIA_TESLA_V100", 1)),
        ("complex_model_m_v100", "n1-highcpu-16", ("NVIDIA_TESLA_V100", 4)),
        ("complex_model_l_v100", "n1-highcpu-32", ("NVIDIA_TESLA_V100", 8)),
        ("n1-standard-8", "n1-standard-8", None),
        ("n1-highmem-16", "n1-highmem-16", None),
    ],
)
def test_machine_types(legacy: str, machine_type: str, accelerator: tuple[str, int] | None) -> None:
    body = to_vertex_job(basic_job(scaleTier="CUSTOM", masterType=legacy))
    assert_valid(body, "customJobs")
    expected: dict[str, Any] = {"machineType": machine_type}
    if accelerator:
        expected.update(acceleratorType=accelerator[0], acceleratorCount=accelerator[1])
    assert pools(body)[0]["machineSpec"] == expected


def test_replica_configs_accelerators_disks_and_evaluators() -> None:
    job = basic_job(
        scaleTier="CUSTOM",
        masterType="n1-standard-8",
        masterConfig={
            "acceleratorConfig": {"count": "2", "type": "NVIDIA_TESLA_T4"},
            "diskConfig": {"bootDiskSizeGb": 200, "bootDiskType": "pd-standard"},
        },
        evaluatorType="n1-highcpu-16",
        evaluatorCount="1",
        evaluatorConfig={"acceleratorConfig": {"count": 1, "type": "NVIDIA_TESLA_P4"}},
    )
    body = to_vertex_job(job)
    assert_valid(body, "customJobs")
    master, workers, servers, evaluators = pools(body)
    assert master["machineSpec"] == {
        "machineType": "n1-standard-8",
        "acceleratorType": "NVIDIA_TESLA_T4",
        "acceleratorCount": 2,
    }
    assert master["diskSpec"] == {"bootDiskSizeGb": 200, "bootDiskType": "pd-standard"}
    assert master["pythonPackageSpec"]["executorImageUri"] == TF24_GPU
    assert workers == {} and servers == {}  # empty pools in between keep evaluators in pool 3
    assert evaluators["replicaCount"] == "1"
    assert evaluators["machineSpec"] == {
        "machineType": "n1-highcpu-16",
        "acceleratorType": "NVIDIA_TESLA_P4",
        "acceleratorCount": 1,
    }
    assert "env" not in evaluators["pythonPackageSpec"]


def test_custom_container() -> None:
    job = basic_job(
        scaleTier="CUSTOM",
        masterType="n1-standard-4",
        workerType="n1-standard-4",
        workerCount=2,
        masterConfig={"imageUri": "gcr.io/p/trainer:1", "containerCommand": ["python", "-m", "trainer.task"]},
        workerConfig={"imageUri": "gcr.io/p/worker:1", "containerArgs": ["--role", "worker"]},
        args=["--epochs", "3"],
        jobDir=JOB_DIR,
    )
    del job["trainingInput"]["packageUris"], job["trainingInput"]["pythonModule"], job["trainingInput"]["runtimeVersion"]
    body = to_vertex_job(job)
    assert_valid(body, "customJobs")
    master, workers = pools(body)
    assert "pythonPackageSpec" not in master
    container = dict(master["containerSpec"])
    assert json.loads(container.pop("env")[0]["value"]) == job["trainingInput"]
    assert container == {
        "imageUri": "gcr.io/p/trainer:1",
        "command": ["python", "-m", "trainer.task"],
        "args": ["--epochs", "3", "--job-dir", JOB_DIR],
    }
    assert workers["containerSpec"] == {"imageUri": "gcr.io/p/worker:1",  # as the local ml v1 run gives it
                                        "args": ["--role", "worker", "--epochs", "3", "--job-dir", JOB_DIR]}


def test_worker_without_own_image_runs_the_master_image() -> None:
    job = basic_job(scaleTier="CUSTOM", masterType="n1-standard-4", workerType="n1-standard-4", workerCount=1,
                    masterConfig={"imageUri": "gcr.io/p/trainer:1"})
    del job["trainingInput"]["packageUris"], job["trainingInput"]["pythonModule"], job["trainingInput"]["runtimeVersion"]
    assert pools(to_vertex_job(job))[1]["containerSpec"] == {"imageUri": "gcr.io/p/trainer:1"}


def test_job_level_fields() -> None:
    job = basic_job(
        serviceAccount="trainer@p.iam.gserviceaccount.com",
        network="projects/12345/global/networks/myVPC",
        encryptionConfig={"kmsKeyName": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"},
        enableWebAccess=True,
        useChiefInTfConfig=True,
        scheduling={"maxRunningTime": "3600.5s"},
        args=["--x=1"],
    )
    job["labels"] = {"team": "ml", "dag_id": "retrain"}
    job["jobId"] = "Retrain_Job_2024"
    body = to_vertex_job(job)
    assert_valid(body, "customJobs")
    assert body["displayName"] == "Retrain_Job_2024"
    assert body["labels"] == {"team": "ml", "dag_id": "retrain", "trainjobs_job_id": "retrain_job_2024"}
    assert body["encryptionSpec"] == {"kmsKeyName": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"}
    spec = body["jobSpec"]
    assert spec["serviceAccount"] == "trainer@p.iam.gserviceaccount.com"
    assert spec["network"] == "projects/12345/global/networks/myVPC"
    assert spec["enableWebAccess"] is True
    assert spec["scheduling"] == {"timeout": "3600.5s"}
    assert "baseOutputDirectory" not in spec
    assert spec["workerPoolSpecs"][0]["pythonPackageSpec"]["args"] == ["--x=1"]  # no job dir, no --job-dir


def test_max_wait_time_is_a_label_not_max_wait_duration() -> None:
    # aiplatform v1 Scheduling.maxWaitDuration only applies to the FLEX_START strategy: the waiter enforces it.
    body = to_vertex_job(basic_job(scheduling={"maxWaitTime": "1800.2s"}))
    assert body["labels"]["trainjobs_max_wait_time"] == "1801s"
    assert "scheduling" not in body["jobSpec"]


def test_explicit_executor_image_and_region_registry() -> None:
    job = basic_job(runtimeVersion="2.11", pythonVersion="3.10")
    body = to_vertex_job(job, executor_image_uri="europe-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-0:latest")
    assert pools(body)[0]["pythonPackageSpec"]["executorImageUri"].startswith("europe-docker.pkg.dev/")
    eu = to_vertex_job(basic_job(region="europe-west4"))
    assert pools(eu)[0]["pythonPackageSpec"]["executorImageUri"] == (
        "europe-docker.pkg.dev/vertex-ai/training/tf-cpu.2-4:latest"
    )
    asia = to_vertex_job(basic_job(region="asia-east1", runtimeVersion="1.15"))
    assert pools(asia)[0]["pythonPackageSpec"]["executorImageUri"] == (
        "asia-docker.pkg.dev/vertex-ai/training/tf-cpu.1-15:latest"
    )


def test_hyperparameter_defaults() -> None:
    job = basic_job(hyperparameters={"params": [{"parameterName": "lr", "type": "DOUBLE", "minValue": 0.01,
                                                 "maxValue": 0.1, "scaleType": "NONE"}]})
    body = to_vertex_job(job)
    assert_valid(body, "hyperparameterTuningJobs")
    assert body["studySpec"] == {
        "metrics": [{"metricId": "training/hptuning/metric", "goal": "MAXIMIZE"}],
        "parameters": [{"parameterId": "lr", "doubleValueSpec": {"minValue": 0.01, "maxValue": 0.1}}],
    }
    assert (body["maxTrialCount"], body["parallelTrialCount"]) == (1, 1)
    assert "maxFailedTrialCount" not in body and "jobSpec" not in body


# -- what has no Vertex equivalent ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scaleTier": "BASIC_TPU"}, "trainingInput.scaleTier"),
        ({"scaleTier": "CUSTOM", "masterType": "cloud_tpu"}, "trainingInput.masterType"),
        ({"scaleTier": "CUSTOM", "masterType": "standard", "workerType": "mystery_box", "workerCount": 1},
         "trainingInput.workerType"),
        ({"scaleTier": "CUSTOM", "masterType": "n1-standard-4",
          "masterConfig": {"acceleratorConfig": {"count": 8, "type": "TPU_V3"}}},
         "trainingInput.masterConfig.acceleratorConfig.type"),
        ({"masterConfig": {"tpuTfVersion": "2.4"}}, "trainingInput.masterConfig.tpuTfVersion"),
        ({"useChiefInTfConfig": False}, "trainingInput.useChiefInTfConfig"),
        ({"scheduling": {"priority": 10}}, "trainingInput.scheduling.priority"),
        ({"hyperparameters": {"resumePreviousJobId": "old_job", "params": [
            {"parameterName": "lr", "type": "DOUBLE", "minValue": 0.1, "maxValue": 1}]}},
         "trainingInput.hyperparameters.resumePreviousJobId"),
        ({"runtimeVersion": None}, "trainingInput.runtimeVersion"),
        ({"runtimeVersion": "2.10"}, "trainingInput.runtimeVersion"),
        ({"pythonVersion": "3.5"}, "trainingInput.pythonVersion"),
    ],
)
def test_untranslatable_fields_are_rejected_by_name(change: dict[str, Any], field: str) -> None:
    job = basic_job(**change)
    job["trainingInput"] = {k: v for k, v in job["trainingInput"].items() if v is not None}
    with pytest.raises(InvalidJobSpec) as caught:
        to_vertex_job(job)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_missing_runtime_version_says_to_pass_executor_image_uri() -> None:
    job = basic_job(runtimeVersion="2.12")
    with pytest.raises(InvalidJobSpec, match="executor_image_uri"):
        to_vertex_job(job)


def test_reserved_labels_and_label_room() -> None:
    job = basic_job()
    job["labels"] = {"trainjobs_job_id": "someone_else"}
    with pytest.raises(InvalidJobSpec) as caught:
        to_vertex_job(job)
    assert caught.value.field == "labels.trainjobs_job_id"
    job["labels"] = {f"k{i}": "v" for i in range(63)}
    with pytest.raises(InvalidJobSpec) as caught:
        to_vertex_job(job)
    assert caught.value.field == "labels"


def test_ml_v1_rules_still_apply_first() -> None:
    job = basic_job(scaleTier="CUSTOM")  # CUSTOM without masterType
    with pytest.raises(InvalidJobSpec) as caught:
        to_vertex_job(job)
    assert caught.value.field == "trainingInput.masterType"


def test_every_problem_is_reported_at_once() -> None:
    job = basic_job(scaleTier="BASIC_TPU", useChiefInTfConfig=False)
    with pytest.raises(InvalidJobSpec) as caught:
        to_vertex_job(job)
    assert {f for f, _ in caught.value.problems} == {"trainingInput.scaleTier", "trainingInput.useChiefInTfConfig"}


# -- Vertex -> neutral view -------------------------------------------------------------------------------


NAME = "projects/123/locations/us-central1/customJobs/456"


@pytest.mark.parametrize(
    ("vertex", "neutral"),
    [
        ("JOB_STATE_UNSPECIFIED", "STATE_UNSPECIFIED"),
        ("JOB_STATE_QUEUED", "QUEUED"),
        ("JOB_STATE_PENDING", "PREPARING"),
        ("JOB_STATE_RUNNING", "RUNNING"),
        ("JOB_STATE_SUCCEEDED", "SUCCEEDED"),
        ("JOB_STATE_FAILED", "FAILED"),
        ("JOB_STATE_CANCELLING", "CANCELLING"),
        ("JOB_STATE_CANCELLED", "CANCELLED"),
        ("JOB_STATE_PAUSED", "RUNNING"),
        ("JOB_STATE_EXPIRED", "FAILED"),
        ("JOB_STATE_UPDATING", "RUNNING"),
        ("JOB_STATE_PARTIALLY_SUCCEEDED", "FAILED"),
    ],
)
def test_states(vertex: str, neutral: str) -> None:
    assert vertex_state(vertex) == neutral
    view = from_vertex_job({"name": NAME, "displayName": "job_1", "state": vertex}, "customJobs")
    assert (view["state"], view["vertexState"], view["vertexName"]) == (neutral, vertex, NAME)
    if neutral == "FAILED":
        assert vertex in view["errorMessage"]  # a failure always says why, even without error.message


def test_state_table_covers_the_discovery_enum_and_terminal_states() -> None:
    from airflow_provider_trainjobs.spec.schema import discovery_document

    enum = discovery_document("aiplatform.v1")["schemas"]["GoogleCloudAiplatformV1CustomJob"]["properties"]["state"]
    assert set(VERTEX_STATES) == set(enum["enum"])
    assert {vertex_state(s) for s in VERTEX_TERMINAL_STATES} == {"SUCCEEDED", "FAILED", "CANCELLED"}
    assert vertex_state("JOB_STATE_SOMETHING_NEW") == "STATE_UNSPECIFIED"


def test_error_times_and_labels() -> None:
    resource = {
        "name": NAME,
        "displayName": "Nightly_Job",
        "state": "JOB_STATE_FAILED",
        "error": {"code": 3, "message": "The replica workerpool0-0 exited with a non-zero status of 1."},
        "createTime": "2025-01-01T00:00:00Z",
        "startTime": "2025-01-01T00:01:00Z",
        "endTime": "2025-01-01T00:05:00.123456Z",
        "labels": {"team": "ml", "trainjobs_job_id": "nightly_job", "trainjobs_max_wait_time": "1800s"},
        "jobSpec": {"workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1"}]},
    }
    view = from_vertex_job(resource, "customJobs")
    assert view["jobId"] == "Nightly_Job"
    assert view["errorMessage"] == "The replica workerpool0-0 exited with a non-zero status of 1."
    assert (view["createTime"], view["startTime"], view["endTime"]) == (
        "2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z", "2025-01-01T00:05:00.123456Z",
    )
    assert view["labels"] == {"team": "ml"}
    assert view["trainingInput"]["scheduling"] == {"maxWaitTime": "1800s"}
    assert "trainingOutput" not in view


def test_job_id_falls_back_to_the_label_then_the_resource_id() -> None:
    assert from_vertex_job({"name": NAME, "displayName": "not a job id", "labels": {"trainjobs_job_id": "abc"}},
                           "customJobs")["jobId"] == "abc"
    assert from_vertex_job({"name": NAME}, "customJobs")["jobId"] == "456"


def test_training_input_reconstructed_without_the_embedded_copy() -> None:
    # A job created outside this provider (no TRAINJOBS_TRAINING_INPUT): rebuild what Vertex tells us.
    resource = {
        "name": NAME,
        "displayName": "outside_job",
        "state": "JOB_STATE_RUNNING",
        "encryptionSpec": {"kmsKeyName": "k"},
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4",
                                    "acceleratorCount": 1},
                    "replicaCount": "1",
                    "diskSpec": {"bootDiskSizeGb": 100, "bootDiskType": "pd-ssd"},
                    "pythonPackageSpec": package(TF24_GPU, ["--epochs", "2", "--job-dir", JOB_DIR]),
                },
                {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "2",
                 "pythonPackageSpec": package(TF24_CPU, [])},
                {},
                {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
                 "containerSpec": {"imageUri": "gcr.io/p/eval:1", "command": ["eval"]}},
            ],
            "scheduling": {"timeout": "7200s"},
            "baseOutputDirectory": {"outputUriPrefix": JOB_DIR},
            "serviceAccount": "sa@p.iam.gserviceaccount.com",
            "network": "projects/1/global/networks/n",
        },
    }
    ti = from_vertex_job(resource, "customJobs")["trainingInput"]
    assert ti == {
        "region": "us-central1",
        "jobDir": JOB_DIR,
        "scaleTier": "CUSTOM",
        "masterType": "n1-standard-8",
        "masterConfig": {
            "acceleratorConfig": {"type": "NVIDIA_TESLA_T4", "count": "1"},
            "diskConfig": {"bootDiskSizeGb": 100, "bootDiskType": "pd-ssd"},
        },
        "packageUris": [PACKAGE],
        "pythonModule": "trainer.task",
        "args": ["--epochs", "2"],
        "workerType": "n1-standard-4",
        "workerCount": "2",
        "evaluatorType": "n1-standard-4",
        "evaluatorCount": "1",
        "evaluatorConfig": {"imageUri": "gcr.io/p/eval:1", "containerCommand": ["eval"]},
        "scheduling": {"maxRunningTime": "7200s"},
        "serviceAccount": "sa@p.iam.gserviceaccount.com",
        "network": "projects/1/global/networks/n",
        "encryptionConfig": {"kmsKeyName": "k"},
    }
    assert validate_resource("ml.v1", "TrainingInput", ti) == []


def tuning_resource(**extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "name": "projects/123/locations/us-central1/hyperparameterTuningJobs/789",
        "displayName": "tune_1",
        "state": "JOB_STATE_SUCCEEDED",
        "studySpec": {
            "metrics": [{"metricId": "accuracy", "goal": "MAXIMIZE"}],
            "parameters": [
                {"parameterId": "lr", "doubleValueSpec": {"minValue": 0.001, "maxValue": 0.1},
                 "scaleType": "UNIT_LOG_SCALE"},
                {"parameterId": "units", "integerValueSpec": {"minValue": "8", "maxValue": "64"}},
                {"parameterId": "opt", "categoricalValueSpec": {"values": ["adam", "sgd"]}},
                {"parameterId": "batch", "discreteValueSpec": {"values": [16, 32]}},
            ],
            "algorithm": "GRID_SEARCH",
            "decayCurveStoppingSpec": {"useElapsedDuration": True},
        },
        "maxTrialCount": 4,
        "parallelTrialCount": 2,
        "maxFailedTrialCount": 1,
        "trialJobSpec": {"workerPoolSpecs": [{"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
                                              "pythonPackageSpec": package(TF24_CPU, [])}]},
        "trials": [
            {
                "id": "1",
                "state": "SUCCEEDED",
                "parameters": [
                    {"parameterId": "lr", "value": 0.01},
                    {"parameterId": "units", "value": 32.0},
                    {"parameterId": "opt", "value": "adam"},
                    {"parameterId": "batch", "value": 16},
                ],
                "finalMeasurement": {"stepCount": "100", "metrics": [{"metricId": "accuracy", "value": 0.93}]},
                "startTime": "2025-01-01T00:01:00Z",
                "endTime": "2025-01-01T00:03:00Z",
            },
            {"id": "2", "state": "INFEASIBLE", "parameters": [{"parameterId": "units", "value": 8}]},
            {"id": "3", "state": "ACTIVE"},
            {"id": "4", "state": "STOPPING"},
            {"id": "5", "state": "REQUESTED"},
        ],
    }
    resource.update(extra)
    return resource


def test_tuning_job_trials_and_output() -> None:
    view = from_vertex_job(tuning_resource(), "hyperparameterTuningJobs")
    assert view["jobId"] == "tune_1" and view["state"] == "SUCCEEDED"
    out = view["trainingOutput"]
    assert out["isHyperparameterTuningJob"] is True
    assert out["completedTrialCount"] == "1"
    assert out["hyperparameterMetricTag"] == "accuracy"
    first, infeasible, active, stopping, requested = out["trials"]
    assert first == {
        "trialId": "1",
        "state": "SUCCEEDED",
        "hyperparameters": {"lr": "0.01", "units": "32", "opt": "adam", "batch": "16"},
        "finalMetric": {"trainingStep": "100", "objectiveValue": 0.93},
        "startTime": "2025-01-01T00:01:00Z",
        "endTime": "2025-01-01T00:03:00Z",
    }
    assert infeasible == {"trialId": "2", "state": "FAILED", "hyperparameters": {"units": "8"}}
    assert (active["state"], requested["state"]) == ("RUNNING", "QUEUED")
    assert stopping["isTrialStoppedEarly"] is True
    hyper = view["trainingInput"]["hyperparameters"]
    assert hyper == {
        "goal": "MAXIMIZE",
        "hyperparameterMetricTag": "accuracy",
        "maxTrials": 4,
        "maxParallelTrials": 2,
        "maxFailedTrials": 1,
        "algorithm": "GRID_SEARCH",
        "enableTrialEarlyStopping": True,
        "params": [
            {"parameterName": "lr", "type": "DOUBLE", "minValue": 0.001, "maxValue": 0.1, "scaleType": "UNIT_LOG_SCALE"},
            {"parameterName": "units", "type": "INTEGER", "minValue": 8, "maxValue": 64},
            {"parameterName": "opt", "type": "CATEGORICAL", "categoricalValues": ["adam", "sgd"]},
            {"parameterName": "batch", "type": "DISCRETE", "discreteValues": [16, 32]},
        ],
    }
    # The neutral view is an ml v1 Job apart from the two Vertex additions.
    ml_view = {k: v for k, v in view.items() if k not in ("vertexName", "vertexState")}
    assert validate_resource("ml.v1", "Job", ml_view) == []


def test_final_metric_picks_the_study_metric() -> None:
    trial = {"id": "1", "state": "SUCCEEDED", "finalMeasurement": {
        "stepCount": "7", "metrics": [{"metricId": "loss", "value": 0.5}, {"metricId": "accuracy", "value": 0.8}]}}
    view = from_vertex_job(tuning_resource(trials=[trial]), "hyperparameterTuningJobs")
    assert view["trainingOutput"]["trials"][0]["finalMetric"] == {"trainingStep": "7", "objectiveValue": 0.8}


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="customJobs"):
        from_vertex_job({"name": NAME}, "trainingPipelines")


# -- round trip ------------------------------------------------------------------------------------------


def vertex_response(body: dict[str, Any], kind: str, **extra: Any) -> dict[str, Any]:
    """What Vertex returns for a created body: the body plus server-assigned output fields."""
    response = copy.deepcopy(body)
    response.update(
        name=f"projects/123/locations/us-central1/{kind}/9876543210",
        state="JOB_STATE_PENDING",
        createTime="2025-01-01T00:00:00Z",
        **extra,
    )
    response["labels"]["goog-managed"] = "x"
    return response


@pytest.mark.parametrize("config", [SEED_004_CONFIG_YAML, HPTUNING_CONFIG])
def test_round_trip(config: str) -> None:
    from airflow_provider_trainjobs.spec.results import job_fingerprint

    job = seed_job(config)
    job["labels"] = {"dag_id": "retrain"}
    kind = vertex_kind(job)
    view = from_vertex_job(vertex_response(to_vertex_job(job), kind), kind)
    assert view["jobId"] == job["jobId"]
    assert view["state"] == "PREPARING"
    assert view["trainingInput"].get("scheduling") == job["trainingInput"].get("scheduling")
    assert view["trainingInput"] == job["trainingInput"]
    # a retry compares specs with this fingerprint: the re-read job must be "the same job"
    assert job_fingerprint(view) == job_fingerprint(job)
    if kind == "hyperparameterTuningJobs":
        assert view["trainingInput"]["hyperparameters"]["goal"] == "MINIMIZE"
        assert view["trainingOutput"]["hyperparameterMetricTag"] == "rmse"


@pytest.mark.parametrize("config", [SEED_004_CONFIG_YAML, HPTUNING_CONFIG])
def test_round_trip_without_the_embedded_copy_keeps_deadlines_and_goal(config: str) -> None:
    job = seed_job(config)
    kind = vertex_kind(job)
    response = vertex_response(to_vertex_job(job), kind)
    spec = response.get("jobSpec") or response["trialJobSpec"]
    spec["workerPoolSpecs"][0]["pythonPackageSpec"].pop("env")
    view = from_vertex_job(response, kind)
    assert view["jobId"] == "my_job_name"
    ti = view["trainingInput"]
    assert ti.get("scheduling") == job["trainingInput"].get("scheduling")
    assert ti["args"] == job["trainingInput"]["args"]
    assert ti["jobDir"] == JOB_DIR
    if kind == "hyperparameterTuningJobs":
        assert ti["hyperparameters"]["goal"] == "MINIMIZE"
        assert ti["hyperparameters"]["hyperparameterMetricTag"] == "rmse"
        assert ti["hyperparameters"]["maxTrials"] == 6



def test_the_docs_dag_snippet_translates_for_vertex(tmp_path: Path) -> None:
    from airflow_provider_trainjobs.spec import build_training_job

    docs = (Path(__file__).resolve().parents[2] / "docs" / "vertex.md").read_text()
    snippet = docs.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "config.yaml").write_text(SEED_004_CONFIG_YAML.replace("  runtimeVersion: '2.4'\n", ""))
    namespace: dict[str, Any] = {"__file__": str(tmp_path / "dag.py"), "__name__": "docs_dag"}
    exec(compile(snippet, "docs/vertex.md", "exec"), namespace)
    train = namespace["train"]
    assert train.backend == "vertex"
    job = build_training_job(
        "census_20250131",
        module_name=train.module_name,
        package_uris=[PACKAGE],
        region=train.region,
        job_dir="gs://my-bucket/census/20250131",
        runtime_version=train.runtime_version,
        config=str(tmp_path / train.config),
        user_args=train.user_args,
    )
    body = to_vertex_job(job)
    assert_valid(body, "customJobs")
    assert [(p["machineSpec"]["machineType"], p["replicaCount"]) for p in pools(body)] == [
        ("n1-highcpu-16", "1"), ("n1-highcpu-16", "9"), ("n1-highmem-8", "3"),
    ]
    assert pools(body)[0]["pythonPackageSpec"]["executorImageUri"] == (
        "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-8:latest"
    )


# -- accelerators: the aiplatform v1 enum on the vertex backend ------------------------------------------


@pytest.mark.parametrize(("gpu", "machine"), [("NVIDIA_L4", "g2-standard-8"), ("NVIDIA_A100_80GB", "a2-ultragpu-2g"),
                                              ("NVIDIA_H100_80GB", "a3-highgpu-2g")])
def test_vertex_only_gpus_are_accepted_and_passed_through(gpu: str, machine: str) -> None:
    job = basic_job(scaleTier="CUSTOM", masterType=machine,
                    masterConfig={"acceleratorConfig": {"count": 1, "type": gpu}},
                    workerType=machine, workerCount=2,
                    workerConfig={"acceleratorConfig": {"count": 2, "type": gpu}})
    body = to_vertex_job(job)
    assert_valid(body, "customJobs")
    master, workers = pools(body)[:2]
    assert master["machineSpec"] == {"machineType": machine, "acceleratorType": gpu, "acceleratorCount": 1}
    assert workers["machineSpec"]["acceleratorType"] == gpu and workers["machineSpec"]["acceleratorCount"] == 2
    assert master["pythonPackageSpec"]["executorImageUri"] == TF24_GPU


def test_an_accelerator_in_neither_enum_names_the_field_and_the_vertex_enum() -> None:
    job = basic_job(scaleTier="CUSTOM", masterType="n1-standard-8", workerType="n1-standard-8", workerCount=1,
                    workerConfig={"acceleratorConfig": {"count": 1, "type": "NVIDIA_GTX_1080"}})
    with pytest.raises(InvalidJobSpec) as info:
        to_vertex_job(job)
    assert info.value.field == "trainingInput.workerConfig.acceleratorConfig.type"
    assert "not an aiplatform v1 MachineSpec.acceleratorType" in str(info.value)
    assert "NVIDIA_L4" in str(info.value)


def test_legacy_k80_mapping_is_kept_with_a_deprecation_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="airflow_provider_trainjobs.spec.vertex"):
        body = to_vertex_job(basic_job(scaleTier="BASIC_GPU"))
    assert pools(body)[0]["machineSpec"]["acceleratorType"] == "NVIDIA_TESLA_K80"
    assert "scaleTier BASIC_GPU maps to NVIDIA_TESLA_K80, which Vertex AI has deprecated" in caplog.text
    assert "trainingInput.masterConfig.acceleratorConfig" in caplog.text

    caplog.clear()
    with caplog.at_level("WARNING", logger="airflow_provider_trainjobs.spec.vertex"):
        body = to_vertex_job(basic_job(scaleTier="CUSTOM", masterType="n1-standard-4", workerCount=1,
                                       workerType="complex_model_m_gpu"))
    assert "workerType complex_model_m_gpu maps to NVIDIA_TESLA_K80" in caplog.text
    assert "trainingInput.workerConfig.acceleratorConfig" in caplog.text


def test_an_explicit_accelerator_replaces_the_legacy_k80_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    job = basic_job(scaleTier="BASIC_GPU", masterConfig={"acceleratorConfig": {"count": 1, "type": "NVIDIA_TESLA_T4"}})
    with caplog.at_level("WARNING", logger="airflow_provider_trainjobs.spec.vertex"):
        body = to_vertex_job(job)
    assert_valid(body, "customJobs")
    assert pools(body)[0]["machineSpec"] == {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4",
                                             "acceleratorCount": 1}
    assert "deprecated" not in caplog.text


@pytest.mark.parametrize(
    ("training", "field", "rule"),
    [({"scaleTier": "BASIC_GPU", "masterConfig": {"acceleratorConfig": {"count": 1, "type": "NVIDIA_L4"}}},
      "trainingInput.masterConfig.acceleratorConfig.type",
      "NVIDIA_L4 runs only on G2 machine types (e.g. g2-standard-8), not on n1-standard-8 (scaleTier BASIC_GPU)"),
     ({"scaleTier": "CUSTOM", "masterType": "n1-standard-8", "workerType": "g2-standard-8", "workerCount": 1,
       "workerConfig": {"acceleratorConfig": {"count": 1, "type": "NVIDIA_TESLA_A100"}}},
      "trainingInput.workerConfig.acceleratorConfig.type",
      "NVIDIA_TESLA_A100 runs only on A2 machine types (e.g. a2-highgpu-1g), not on g2-standard-8 "
      "(workerType g2-standard-8)"),
     ({"scaleTier": "CUSTOM", "masterType": "a2-highgpu-1g",
       "masterConfig": {"acceleratorConfig": {"count": 1, "type": "NVIDIA_H100_80GB"}}},
      "trainingInput.masterConfig.acceleratorConfig.type", "NVIDIA_H100_80GB runs only on A3 machine types"),
     ({"scaleTier": "CUSTOM", "masterType": "e2-standard-8",
       "masterConfig": {"acceleratorConfig": {"count": 1, "type": "NVIDIA_TESLA_T4"}}},
      "trainingInput.masterConfig.acceleratorConfig.type", "NVIDIA_TESLA_T4 runs only on N1 machine types")],
)
def test_a_gpu_on_a_machine_series_that_cannot_carry_it_names_the_field(training: dict[str, Any], field: str,
                                                                         rule: str) -> None:
    """Source: Compute Engine "About GPUs" (L4 on G2, A100 on A2, H100 on A3, the older GPUs on N1)."""
    with pytest.raises(InvalidJobSpec) as info:
        to_vertex_job(basic_job(**training))
    assert info.value.field == field and rule in str(info.value)


def test_a_gpu_without_a_sourced_machine_series_is_left_to_vertex() -> None:
    body = to_vertex_job(basic_job(scaleTier="CUSTOM", masterType="a3-highgpu-8g",
                                   masterConfig={"acceleratorConfig": {"count": 8, "type": "NVIDIA_B200"}}))
    assert pools(body)[0]["machineSpec"]["acceleratorType"] == "NVIDIA_B200"
