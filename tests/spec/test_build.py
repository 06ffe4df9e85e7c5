"""build_training_job: the seed 004 examples give the bodies gcloud sends; the --config merge rule."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support import SEED_004_CONFIG_YAML

from airflow_provider_trainjobs.spec import InvalidJobSpec, build_training_job, load_config

JOB_NAME = "your_name_20240131_120000"
MODULE_NAME = "trainer.task"
JOB_DIR = "gs://your/chosen/job/output/path"
REGION = "us-east1"
# What gcloud staged from --package-path (the URI of the uploaded sdist).
STAGED = "gs://your/chosen/job/output/path/packages/0f1e2d/trainer-0.0.0.tar.gz"
USER_ARGS = ["--user_first_arg=first_arg_value", "--user_second_arg=second_arg_value"]


@pytest.fixture
def seed_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(SEED_004_CONFIG_YAML, encoding="utf-8")
    return path


def test_seed_example_1_scale_tier_basic_from_flags() -> None:
    """gcloud ... submit training $JOB_NAME --scale-tier basic --package-path ... --module-name
    --job-dir --region -- --user_first_arg=... --user_second_arg=..."""
    job = build_training_job(
        JOB_NAME,
        scale_tier="basic",
        package_uris=[STAGED],
        module_name=MODULE_NAME,
        job_dir=JOB_DIR,
        region=REGION,
        user_args=USER_ARGS,
    )
    assert job == {
        "jobId": "your_name_20240131_120000",
        "trainingInput": {
            "scaleTier": "BASIC",
            "packageUris": ["gs://your/chosen/job/output/path/packages/0f1e2d/trainer-0.0.0.tar.gz"],
            "pythonModule": "trainer.task",
            "args": ["--user_first_arg=first_arg_value", "--user_second_arg=second_arg_value"],
            "region": "us-east1",
            "jobDir": "gs://your/chosen/job/output/path",
        },
    }
    # The wire body (JSON) is the same whatever the key order.
    assert json.loads(json.dumps(job)) == job


def test_seed_example_2_config_yaml_plus_flags(seed_config: Path) -> None:
    """gcloud ... submit training $JOB_NAME --package-path ... --module-name --job-dir --region
    --config config.yaml -- --user_first_arg=... --user_second_arg=..."""
    job = build_training_job(
        JOB_NAME,
        package_uris=[STAGED],
        module_name=MODULE_NAME,
        job_dir=JOB_DIR,
        region=REGION,
        config=seed_config,
        user_args=USER_ARGS,
    )
    assert job == {
        "jobId": "your_name_20240131_120000",
        "trainingInput": {
            "scaleTier": "CUSTOM",
            "masterType": "complex_model_m",
            "workerType": "complex_model_m",
            "parameterServerType": "large_model",
            "workerCount": 9,
            "parameterServerCount": 3,
            "runtimeVersion": "2.4",
            "pythonVersion": "3.7",
            "scheduling": {"maxWaitTime": "3600s", "maxRunningTime": "7200s"},
            "packageUris": ["gs://your/chosen/job/output/path/packages/0f1e2d/trainer-0.0.0.tar.gz"],
            "pythonModule": "trainer.task",
            "args": ["--user_first_arg=first_arg_value", "--user_second_arg=second_arg_value"],
            "region": "us-east1",
            "jobDir": "gs://your/chosen/job/output/path",
        },
    }


# Seed 004, "Python": the training_inputs / job_spec dicts, exactly as the seed writes them.
SEED_TRAINING_INPUTS = {
    "scaleTier": "CUSTOM",
    "masterType": "complex_model_m",
    "workerType": "complex_model_m",
    "parameterServerType": "large_model",
    "workerCount": 9,
    "parameterServerCount": 3,
    "packageUris": ["gs://my/trainer/path/package-0.0.0.tar.gz"],
    "pythonModule": "trainer.task",
    "args": ["--arg1", "value1", "--arg2", "value2"],
    "region": "us-central1",
    "jobDir": "gs://my/training/job/directory",
    "runtimeVersion": "2.4",
    "pythonVersion": "3.7",
    "scheduling": {"maxWaitTime": "3600s", "maxRunningTime": "7200s"},
}
SEED_JOB_SPEC = {"jobId": "my_job_name", "trainingInput": SEED_TRAINING_INPUTS}


def test_seed_python_job_spec_as_config_is_sent_unchanged() -> None:
    job = build_training_job(None, config=SEED_JOB_SPEC)
    assert job == {
        "jobId": "my_job_name",
        "trainingInput": {
            "scaleTier": "CUSTOM",
            "masterType": "complex_model_m",
            "workerType": "complex_model_m",
            "parameterServerType": "large_model",
            "workerCount": 9,
            "parameterServerCount": 3,
            "packageUris": ["gs://my/trainer/path/package-0.0.0.tar.gz"],
            "pythonModule": "trainer.task",
            "args": ["--arg1", "value1", "--arg2", "value2"],
            "region": "us-central1",
            "jobDir": "gs://my/training/job/directory",
            "runtimeVersion": "2.4",
            "pythonVersion": "3.7",
            "scheduling": {"maxWaitTime": "3600s", "maxRunningTime": "7200s"},
        },
    }
    assert job is not SEED_JOB_SPEC and job["trainingInput"] is not SEED_TRAINING_INPUTS


def test_seed_python_job_spec_from_arguments_alone() -> None:
    job = build_training_job(
        "my_job_name",
        scale_tier="CUSTOM",
        master_type="complex_model_m",
        worker_type="complex_model_m",
        parameter_server_type="large_model",
        worker_count=9,
        parameter_server_count=3,
        package_uris=["gs://my/trainer/path/package-0.0.0.tar.gz"],
        module_name="trainer.task",
        user_args=["--arg1", "value1", "--arg2", "value2"],
        region="us-central1",
        job_dir="gs://my/training/job/directory",
        runtime_version="2.4",
        python_version="3.7",
        max_wait_time="3600s",
        max_running_time=7200,
    )
    assert job == SEED_JOB_SPEC


def test_config_file_jobid_is_used_when_job_id_is_none(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("jobId: from_file\n" + SEED_004_CONFIG_YAML, encoding="utf-8")
    common: dict[str, Any] = {"package_uris": [STAGED], "module_name": MODULE_NAME, "region": REGION}
    assert build_training_job(None, config=path, **common)["jobId"] == "from_file"
    assert build_training_job("from_argument", config=path, **common)["jobId"] == "from_argument"


def test_no_job_id_anywhere_is_an_error() -> None:
    with pytest.raises(InvalidJobSpec, match=r"jobId: required") as info:
        build_training_job(None, package_uris=[STAGED], module_name=MODULE_NAME, region=REGION)
    assert info.value.field == "jobId"


def test_arguments_replace_whole_fields_and_unset_never_erases(seed_config: Path) -> None:
    job = build_training_job(
        "j1",
        config=seed_config,
        package_uris=[STAGED],
        module_name=MODULE_NAME,
        region=REGION,
        worker_count=2,
        master_type="standard",
    )
    ti = job["trainingInput"]
    assert ti["workerCount"] == 2
    assert ti["masterType"] == "standard"
    # Untouched file values survive.
    assert ti["parameterServerCount"] == 3
    assert ti["workerType"] == "complex_model_m"
    assert ti["scheduling"] == {"maxWaitTime": "3600s", "maxRunningTime": "7200s"}


def test_labels_and_hyperparameters_are_replaced_not_merged() -> None:
    config = {
        "labels": {"team": "ml", "owner": "ana"},
        "trainingInput": {
            "packageUris": [STAGED],
            "pythonModule": MODULE_NAME,
            "region": REGION,
            "hyperparameters": {
                "goal": "MINIMIZE",
                "maxTrials": 10,
                "params": [{"parameterName": "lr", "type": "DOUBLE", "minValue": 0.01, "maxValue": 0.1}],
            },
        },
    }
    new_hp = {
        "maxTrials": 2,
        "params": [{"parameterName": "depth", "type": "INTEGER", "minValue": 1, "maxValue": 4}],
    }
    job = build_training_job("j1", config=config, labels={"team": "search"}, hyperparameters=new_hp)
    assert job["labels"] == {"team": "search"}
    assert job["trainingInput"]["hyperparameters"] == new_hp
    # The caller's objects are not shared or modified.
    assert config["labels"] == {"team": "ml", "owner": "ana"}
    assert job["trainingInput"]["hyperparameters"] is not new_hp


def test_user_args_and_package_uris_replace_the_file_lists_and_empty_means_not_given() -> None:
    config = {
        "trainingInput": {
            "packageUris": ["gs://b/from-file.tar.gz"],
            "pythonModule": MODULE_NAME,
            "region": REGION,
            "args": ["--epochs", "5"],
        }
    }
    kept = build_training_job("j1", config=config, user_args=(), package_uris=())
    assert kept["trainingInput"]["args"] == ["--epochs", "5"]
    assert kept["trainingInput"]["packageUris"] == ["gs://b/from-file.tar.gz"]
    replaced = build_training_job(
        "j1", config=config, user_args=["--epochs", 7], package_uris=("gs://b/new.whl",)
    )
    assert replaced["trainingInput"]["args"] == ["--epochs", "7"]
    assert replaced["trainingInput"]["packageUris"] == ["gs://b/new.whl"]


def test_scheduling_arguments_replace_only_their_own_field(seed_config: Path) -> None:
    config = load_config(seed_config)
    config["trainingInput"]["scheduling"]["priority"] = 5
    job = build_training_job(
        "j1",
        config=config,
        package_uris=[STAGED],
        module_name=MODULE_NAME,
        region=REGION,
        max_running_time=timedelta(hours=1, minutes=30),
    )
    assert job["trainingInput"]["scheduling"] == {
        "maxWaitTime": "3600s",
        "maxRunningTime": "5400s",
        "priority": 5,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3600s", "3600s"),
        (1800, "1800s"),
        (2700.0, "2700s"),
        (1800.5, "1800.5s"),
        (timedelta(hours=2), "7200s"),
    ],
)
def test_durations_are_normalised(value: Any, expected: str) -> None:
    job = build_training_job(
        "j1", package_uris=[STAGED], module_name=MODULE_NAME, region=REGION, max_wait_time=value
    )
    assert job["trainingInput"]["scheduling"] == {"maxWaitTime": expected}


def test_bad_duration_argument_names_the_field() -> None:
    with pytest.raises(InvalidJobSpec, match="is not a duration") as info:
        build_training_job(
            "j1", package_uris=[STAGED], module_name=MODULE_NAME, region=REGION, max_wait_time="1h"
        )
    assert info.value.field == "trainingInput.scheduling.maxWaitTime"


def test_master_image_uri_sets_only_the_image_of_master_config() -> None:
    config = {
        "trainingInput": {
            "scaleTier": "CUSTOM",
            "masterType": "n1-standard-8",
            "masterConfig": {"acceleratorConfig": {"count": "1", "type": "NVIDIA_TESLA_T4"}},
            "region": REGION,
        }
    }
    job = build_training_job("j1", config=config, master_image_uri="gcr.io/p/trainer:1")
    assert job["trainingInput"]["masterConfig"] == {
        "acceleratorConfig": {"count": "1", "type": "NVIDIA_TESLA_T4"},
        "imageUri": "gcr.io/p/trainer:1",
    }
    assert "imageUri" not in config["trainingInput"]["masterConfig"]


@pytest.mark.parametrize(
    ("given", "sent"), [("basic-gpu", "BASIC_GPU"), ("STANDARD_1", "STANDARD_1"), ("custom", "CUSTOM")]
)
def test_scale_tier_takes_gcloud_spelling(given: str, sent: str) -> None:
    extra = {"master_type": "standard"} if sent == "CUSTOM" else {}
    job = build_training_job(
        "j1", package_uris=[STAGED], module_name=MODULE_NAME, region=REGION, scale_tier=given, **extra
    )
    assert job["trainingInput"]["scaleTier"] == sent


def test_service_account_and_python_version() -> None:
    job = build_training_job(
        "j1",
        package_uris=[STAGED],
        module_name=MODULE_NAME,
        region=REGION,
        service_account="trainer@proj.iam.gserviceaccount.com",
        python_version="3.7",
    )
    assert job["trainingInput"]["serviceAccount"] == "trainer@proj.iam.gserviceaccount.com"
    assert job["trainingInput"]["pythonVersion"] == "3.7"


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"user_args": "--lr=0.1"}, "trainingInput.args", "user_args must be a list of strings"),
        ({"user_args": ["--x", None]}, "trainingInput.args", "items must be strings"),
        ({"package_uris": "gs://b/p.tar.gz"}, "trainingInput.packageUris", "package_uris must be a list"),
        ({"labels": ["team"]}, "labels", "must be a mapping"),
        ({"hyperparameters": [1]}, "trainingInput.hyperparameters", "HyperparameterSpec mapping"),
        (
            {"worker_count": "many", "scale_tier": "CUSTOM", "master_type": "m", "worker_type": "w"},
            "trainingInput.workerCount",
            "expected an integer",
        ),
        ({"region": ""}, "trainingInput.region", "required"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, Any], field: str, fragment: str) -> None:
    args: dict[str, Any] = {"package_uris": [STAGED], "module_name": MODULE_NAME, "region": REGION}
    args.update(kwargs)
    with pytest.raises(InvalidJobSpec) as info:
        build_training_job("j1", **args)
    assert info.value.field == field
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"invalid training job: {field}: ")


def test_load_config_json_and_yaml(tmp_path: Path) -> None:
    as_json = tmp_path / "job.json"
    as_json.write_text(json.dumps(SEED_JOB_SPEC), encoding="utf-8")
    assert load_config(as_json) == SEED_JOB_SPEC
    assert load_config(str(as_json)) == SEED_JOB_SPEC
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert load_config(empty) == {}


def test_yaml_unquoted_version_is_caught_by_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        SEED_004_CONFIG_YAML.replace("runtimeVersion: '2.4'", "runtimeVersion: 2.4"), encoding="utf-8"
    )
    with pytest.raises(InvalidJobSpec, match="quote it in YAML") as info:
        build_training_job("j1", config=path, package_uris=[STAGED], module_name=MODULE_NAME, region=REGION)
    assert info.value.field == "trainingInput.runtimeVersion"


@pytest.mark.parametrize(
    ("content", "suffix", "fragment", "field"),
    [
        ("trainingInput: [unclosed", ".yaml", "is not valid YAML", "config"),
        ("{not json", ".json", "is not valid JSON", "config"),
        ("- a\n- b\n", ".yaml", "must hold a Job resource", "config"),
        (
            "scaleTier: BASIC\nregion: us-east1\n",
            ".yaml",
            "put region, scaleTier under 'trainingInput:'",
            "region",
        ),
        ("trainingInput:\n  scaleTeir: BASIC\n", ".yaml", "unknown field", "trainingInput.scaleTeir"),
        ("trainingInput: 5\n", ".yaml", "must be a mapping", "trainingInput"),
    ],
)
def test_bad_config_files(tmp_path: Path, content: str, suffix: str, fragment: str, field: str) -> None:
    path = tmp_path / f"config{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidJobSpec, match=fragment) as info:
        build_training_job("j1", config=path, package_uris=[STAGED], module_name=MODULE_NAME, region=REGION)
    assert info.value.field == field


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidJobSpec, match="cannot read config file") as info:
        load_config(tmp_path / "nope.yaml")
    assert info.value.field == "config"
    with pytest.raises(InvalidJobSpec, match="must be a path"):
        load_config(42)  # type: ignore[arg-type]


def test_invalid_job_spec_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        build_training_job("1bad", package_uris=[STAGED], module_name=MODULE_NAME, region=REGION)


def test_the_vertex_backend_accepts_vertex_only_accelerators_and_ai_platform_does_not() -> None:
    """build_training_job validates for the backend the job will run on (only the accelerator enum differs)."""
    config = {"trainingInput": {"scaleTier": "CUSTOM", "masterType": "g2-standard-8",
                                "masterConfig": {"acceleratorConfig": {"count": 1, "type": "NVIDIA_L4"}}}}
    common = {"module_name": "trainer.task", "package_uris": ["gs://b/t.tar.gz"], "region": "us-central1"}
    job = build_training_job("gpu_job", config=config, backend="vertex", **common)
    assert job["trainingInput"]["masterConfig"]["acceleratorConfig"]["type"] == "NVIDIA_L4"
    with pytest.raises(InvalidJobSpec) as info:
        build_training_job("gpu_job", config=config, **common)
    assert info.value.field.endswith("acceleratorConfig.type")
