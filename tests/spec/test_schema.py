"""validate_resource against the real discovery documents shipped in google-api-python-client."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_provider_trainjobs.spec.schema import discovery_document, resolve_schema_name, validate_resource

SEED_JOB = {
    "jobId": "my_job_name",
    "trainingInput": {
        "scaleTier": "CUSTOM",
        "masterType": "complex_model_m",
        "workerCount": 9,
        "packageUris": ["gs://my/trainer/path/package-0.0.0.tar.gz"],
        "pythonModule": "trainer.task",
        "args": ["--arg1", "value1"],
        "region": "us-central1",
        "scheduling": {"maxWaitTime": "3600s", "maxRunningTime": "7200s", "priority": 10},
        "hyperparameters": {
            "goal": "MAXIMIZE",
            "maxTrials": 4,
            "params": [{"parameterName": "lr", "type": "DOUBLE", "minValue": 0.001, "maxValue": 0.1}],
        },
    },
    "labels": {"team": "ml"},
}


def test_valid_job_has_no_problems() -> None:
    assert validate_resource("ml.v1", "GoogleCloudMlV1__Job", SEED_JOB) == []


def test_short_schema_names_resolve() -> None:
    assert resolve_schema_name("ml.v1", "Job") == "GoogleCloudMlV1__Job"
    assert resolve_schema_name("aiplatform.v1", "CustomJob") == "GoogleCloudAiplatformV1CustomJob"
    assert resolve_schema_name("logging.v2", "ListLogEntriesRequest") == "ListLogEntriesRequest"
    with pytest.raises(ValueError, match="NoSuchThing"):
        resolve_schema_name("ml.v1", "NoSuchThing")


def test_unknown_document_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown discovery document"):
        discovery_document("ml.v2")


def test_bad_enum_names_the_path_and_the_allowed_values() -> None:
    body = {"trainingInput": {"scaleTier": "FOO"}}
    assert validate_resource("ml.v1", "Job", body) == [
        "trainingInput.scaleTier: 'FOO' is not one of BASIC, STANDARD_1, PREMIUM_1, BASIC_GPU, BASIC_TPU, CUSTOM"
    ]


def test_unknown_fields_are_reported_at_every_level() -> None:
    body = {"jobid": "x", "trainingInput": {"scheduling": {"timeout": "5s"}}}
    problems = validate_resource("ml.v1", "Job", body)
    assert len(problems) == 2
    assert problems[0].startswith("jobid: unknown field")
    assert problems[1].startswith("trainingInput.scheduling.timeout: unknown field")
    assert "GoogleCloudMlV1__Scheduling" in problems[1]


@pytest.mark.parametrize(
    ("training_input", "path", "fragment"),
    [
        ({"workerCount": "nine"}, "trainingInput.workerCount", "expected an integer (int64)"),
        ({"workerCount": 2.5}, "trainingInput.workerCount", "expected an integer"),
        ({"workerCount": True}, "trainingInput.workerCount", "expected an integer"),
        ({"args": "--lr=0.1"}, "trainingInput.args", "expected an array"),
        ({"args": ["--lr", 0.1]}, "trainingInput.args[1]", "expected a string"),
        ({"runtimeVersion": 2.4}, "trainingInput.runtimeVersion", "quote it in YAML"),
        ({"enableWebAccess": "yes"}, "trainingInput.enableWebAccess", "expected a boolean"),
        ({"scheduling": {"maxWaitTime": 3600}}, "trainingInput.scheduling.maxWaitTime", "'3600s'"),
        ({"scheduling": {"maxWaitTime": "1h"}}, "trainingInput.scheduling.maxWaitTime", "is not a duration"),
        ({"scheduling": {"priority": 2**31}}, "trainingInput.scheduling.priority", "int32 range"),
        ({"scheduling": "soon"}, "trainingInput.scheduling", "expected an object"),
        (
            {"hyperparameters": {"params": [{"parameterName": "lr", "minValue": "low"}]}},
            "trainingInput.hyperparameters.params[lr].minValue",
            "expected a number",
        ),
        (
            {"masterConfig": {"acceleratorConfig": {"count": "x"}}},
            "trainingInput.masterConfig.acceleratorConfig.count",
            "expected an integer",
        ),
    ],
)
def test_wrong_types_name_the_field(training_input: dict[str, object], path: str, fragment: str) -> None:
    problems = validate_resource("ml.v1", "Job", {"trainingInput": training_input})
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: ")
    assert fragment in problems[0]


def test_google_encodings_of_numbers_are_accepted() -> None:
    body = {
        "trainingInput": {
            "workerCount": "9",  # int64 as a string, the way Google returns it
            "scheduling": {"priority": "5"},
            "hyperparameters": {"maxTrials": 3.0, "params": [{"minValue": "0.5", "discreteValues": [1, "NaN"]}]},
        },
        "createTime": "2024-01-31T12:00:00.123456Z",
        "etag": "YWJj",
    }
    assert validate_resource("ml.v1", "Job", body) == []


def test_bad_datetime_is_reported() -> None:
    problems = validate_resource("ml.v1", "Job", {"createTime": "yesterday"})
    assert problems == ["createTime: 'yesterday' is not an RFC 3339 timestamp, e.g. '2024-01-31T12:00:00Z'"]


def test_additional_properties_values_are_checked() -> None:
    problems = validate_resource("ml.v1", "Job", {"labels": {"team": 5}})
    assert problems == ["labels.team: expected a string (quote it in YAML), got number 5"]


def test_read_only_fields_are_ignored_unless_rejected() -> None:
    body = {"jobPosition": "not-a-number"}
    assert validate_resource("ml.v1", "Job", body) == []
    problems = validate_resource("ml.v1", "Job", body, reject_read_only=True)
    assert problems == ["jobPosition: is output only (set by the service) and must not be sent"]


def test_null_means_unset() -> None:
    assert validate_resource("ml.v1", "Job", {"trainingInput": {"scaleTier": None}}) == []


def test_non_object_body() -> None:
    assert validate_resource("ml.v1", "Job", ["x"]) == ["(body): expected an object (mapping), got array ['x']"]


def test_aiplatform_custom_job() -> None:
    body = {
        "displayName": "my_job",
        "jobSpec": {
            "workerPoolSpecs": [
                {
                    "machineSpec": {"machineType": "n1-standard-4", "acceleratorType": "NVIDIA_TESLA_T5"},
                    "replicaCount": "1",
                    "pythonPackageSpec": {"packageUris": ["gs://b/p.tar.gz"], "pythonModule": "trainer.task"},
                }
            ],
            "scheduling": {"timeout": "7200s"},
        },
    }
    problems = validate_resource("aiplatform.v1", "CustomJob", body)
    assert len(problems) == 1
    assert problems[0].startswith("jobSpec.workerPoolSpecs[0].machineSpec.acceleratorType: 'NVIDIA_TESLA_T5' is not")


def test_aiplatform_named_items_use_their_id() -> None:
    body = {"studySpec": {"parameters": [{"parameterId": "lr", "doubleValueSpec": {"minValue": "x"}}]}}
    problems = validate_resource("aiplatform.v1", "HyperparameterTuningJob", body)
    assert problems == ["studySpec.parameters[lr].doubleValueSpec.minValue: expected a number, got string 'x'"]


def test_logging_request() -> None:
    body = {"resourceNames": ["projects/p"], "filter": 'resource.type="ml_job"', "pageSize": 10, "orderBy": 1}
    assert validate_resource("logging.v2", "ListLogEntriesRequest", body) == [
        "orderBy: expected a string (quote it in YAML), got number 1"
    ]


def test_importing_the_spec_package_does_not_import_google_clients() -> None:
    code = (
        "import sys; import airflow_provider_trainjobs.spec as s; "
        "s.validate_resource('ml.v1', 'Job', {}); "
        "bad = [m for m in sys.modules if m.startswith(('googleapiclient', 'google.cloud', 'setuptools', 'optuna'))]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
