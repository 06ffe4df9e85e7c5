"""best_trial, job_fingerprint and the duration helpers."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_trainjobs.spec import best_trial, format_duration, job_fingerprint, parse_duration
from airflow_provider_trainjobs.spec.results import tuning_progress


def trial(trial_id: str, value: Any, state: str = "SUCCEEDED", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "trialId": trial_id,
        "hyperparameters": {"lr": f"0.{trial_id}"},
        "state": state,
        **extra,
    }
    if value is not None:
        out["finalMetric"] = {"trainingStep": "100", "objectiveValue": value}
    return out


def tuning_job(trials: list[dict[str, Any]], goal: str | None = None) -> dict[str, Any]:
    hyper: dict[str, Any] = {"params": []}
    if goal:
        hyper["goal"] = goal
    return {
        "jobId": "t",
        "trainingInput": {"hyperparameters": hyper},
        "trainingOutput": {"isHyperparameterTuningJob": True, "trials": trials},
    }


TRIALS = [
    trial("1", 0.7),
    trial("2", 0.9),
    trial("3", 0.99, state="FAILED"),
    trial("4", None),
    trial("5", 0.2),
    trial("6", 1.5, state="RUNNING"),
]


@pytest.mark.parametrize(
    ("goal", "expected"), [(None, "2"), ("MAXIMIZE", "2"), ("GOAL_TYPE_UNSPECIFIED", "2"), ("MINIMIZE", "5")]
)
def test_best_trial_by_goal(goal: str | None, expected: str) -> None:
    best = best_trial(tuning_job(TRIALS, goal))
    assert best is not None
    assert best["trialId"] == expected


def test_best_trial_is_a_copy_of_the_whole_trial() -> None:
    job = tuning_job(TRIALS)
    best = best_trial(job)
    assert best == {
        "trialId": "2",
        "hyperparameters": {"lr": "0.2"},
        "state": "SUCCEEDED",
        "finalMetric": {"trainingStep": "100", "objectiveValue": 0.9},
    }
    best["hyperparameters"]["lr"] = "changed"
    assert job["trainingOutput"]["trials"][1]["hyperparameters"]["lr"] == "0.2"


def test_ties_go_to_the_first_trial_and_string_metrics_are_read() -> None:
    best = best_trial(tuning_job([trial("1", "0.5"), trial("2", 0.5), trial("3", "nan"), trial("4", "x")]))
    assert best is not None and best["trialId"] == "1"


def test_early_stopped_successful_trials_count() -> None:
    best = best_trial(tuning_job([trial("1", 0.1), trial("2", 0.8, isTrialStoppedEarly=True)]))
    assert best is not None and best["trialId"] == "2"


@pytest.mark.parametrize(
    "job",
    [
        {"jobId": "plain"},
        {"jobId": "t", "trainingOutput": {}},
        tuning_job([]),
        tuning_job([trial("1", 0.5, state="FAILED"), trial("2", None)]),
    ],
)
def test_no_best_trial(job: dict[str, Any]) -> None:
    assert best_trial(job) is None


SUBMITTED = {
    "jobId": "j",
    "labels": {"airflow-dag": "retrain"},
    "trainingInput": {
        "scaleTier": "CUSTOM",
        "masterType": "standard",
        "workerType": "standard",
        "workerCount": 2,
        "packageUris": ["gs://b/p.tar.gz"],
        "pythonModule": "trainer.task",
        "region": "us-central1",
        "args": [],
        "scheduling": {"maxWaitTime": "3600s"},
        "hyperparameters": {
            "params": [{"parameterName": "lr", "type": "DOUBLE", "minValue": 0, "maxValue": 1}]
        },
    },
}

# The same job as the service returns it: int64 as strings, spelled-out defaults, output fields.
RETURNED = {
    "jobId": "j",
    "state": "RUNNING",
    "createTime": "2024-01-31T12:00:00Z",
    "etag": "YWJj",
    "labels": {"airflow-dag": "retrain", "goog-managed": "x"},
    "trainingInput": {
        "scaleTier": "CUSTOM",
        "masterType": "standard",
        "workerType": "standard",
        "workerCount": "2",
        "packageUris": ["gs://b/p.tar.gz"],
        "pythonModule": "trainer.task",
        "region": "us-central1",
        "scheduling": {"maxWaitTime": "3600.000s"},
        "hyperparameters": {
            "goal": "MAXIMIZE",
            "maxTrials": 1,
            "maxParallelTrials": "1",
            "hyperparameterMetricTag": "training/hptuning/metric",
            "algorithm": "ALGORITHM_UNSPECIFIED",
            "params": [{"parameterName": "lr", "type": "DOUBLE", "minValue": 0.0, "maxValue": "1"}],
        },
    },
    "trainingOutput": {"completedTrialCount": "0"},
}


def test_fingerprint_matches_the_service_echo_of_the_same_job() -> None:
    assert job_fingerprint(SUBMITTED) == job_fingerprint(RETURNED)
    assert job_fingerprint(SUBMITTED)["labels"] == {"airflow-dag": "retrain"}
    assert job_fingerprint(RETURNED)["trainingInput"]["workerCount"] == 2


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("trainingInput", "workerCount"), 3),
        (("trainingInput", "args"), ["--epochs", "2"]),
        (("trainingInput", "pythonModule"), "trainer.other"),
        (("trainingInput", "scheduling"), {"maxWaitTime": "7200s"}),
        (("labels",), {"airflow-dag": "other"}),
    ],
)
def test_fingerprint_differs_when_the_spec_differs(path: tuple[str, ...], value: Any) -> None:
    changed: dict[str, Any] = {**SUBMITTED, "trainingInput": dict(SUBMITTED["trainingInput"])}
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert job_fingerprint(changed) != job_fingerprint(SUBMITTED)


def test_fingerprint_default_scale_tier() -> None:
    base = {"trainingInput": {"region": "r", "pythonModule": "m"}}
    assert job_fingerprint(base) == job_fingerprint(
        {"trainingInput": {**base["trainingInput"], "scaleTier": "BASIC"}}
    )
    assert job_fingerprint(base) != job_fingerprint(
        {"trainingInput": {**base["trainingInput"], "scaleTier": "BASIC_GPU"}}
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3600s", 3600.0),
        ("1.5s", 1.5),
        ("0s", 0.0),
        (90, 90.0),
        (2.5, 2.5),
        (timedelta(minutes=2), 120.0),
    ],
)
def test_parse_duration(value: Any, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["3600", "1h", "s", "", " 60s ", True, math.inf, None, "1.0000000001s", "9" * 400 + "s", 10**400]
)
def test_parse_duration_rejects(value: Any) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3600, "3600s"),
        (3600.0, "3600s"),
        (0.25, "0.25s"),
        ("7200s", "7200s"),
        ("10.500s", "10.5s"),
        (timedelta(days=7), "604800s"),
    ],
)
def test_format_duration(value: Any, text: str) -> None:
    assert format_duration(value) == text


def test_tuning_progress_counts_ended_trials_against_max_trials_and_names_the_best() -> None:
    job = tuning_job(TRIALS)
    job["trainingInput"]["hyperparameters"].update(maxTrials=20, hyperparameterMetricTag="accuracy")
    assert tuning_progress(job) == "5/20 trials done, best accuracy=0.9 (trial 2)"


def test_tuning_progress_prefers_the_services_counts() -> None:
    job = tuning_job([trial("1", 0.5, state="RUNNING")], "MINIMIZE")
    job["trainingInput"]["hyperparameters"]["maxTrials"] = 10
    assert tuning_progress(job) == "0/10 trials done"
    job["trainingOutput"].update(completedTrialCount="3", maxTrialCount="8")
    assert tuning_progress(job) == "3/8 trials done"


def test_tuning_progress_is_none_for_other_jobs_and_tolerates_a_bare_output() -> None:
    assert tuning_progress({"jobId": "j", "trainingInput": {"scaleTier": "BASIC"}, "trainingOutput": {}}) is None
    assert tuning_progress({"jobId": "j"}) is None
    assert tuning_progress({"jobId": "j", "trainingOutput": {"isHyperparameterTuningJob": True}}) == "0/1 trials done"


def test_tuning_progress_of_a_grid_smaller_than_max_trials_counts_against_the_grid() -> None:
    """A 12-point grid (INTEGER 1..3 x DISCRETE 2 values x CATEGORICAL 2 values) with maxTrials 20 ends after 12."""
    job = tuning_job([trial(str(n), 0.5) for n in range(1, 13)])
    job["trainingInput"]["hyperparameters"].update(
        maxTrials=20, algorithm="GRID_SEARCH", hyperparameterMetricTag="accuracy",
        params=[{"parameterName": "layers", "type": "INTEGER", "minValue": "1", "maxValue": "3"},
                {"parameterName": "lr", "type": "DISCRETE", "discreteValues": [0.1, 0.01]},
                {"parameterName": "opt", "type": "CATEGORICAL", "categoricalValues": ["adam", "sgd"]}])
    assert tuning_progress(job) == "12/12 trials done, best accuracy=0.5 (trial 1)"
    job["trainingInput"]["hyperparameters"]["maxTrials"] = 5  # maxTrials below the grid still wins
    job["trainingOutput"]["trials"] = job["trainingOutput"]["trials"][:2]
    assert tuning_progress(job).startswith("2/5 trials done")
    job["trainingInput"]["hyperparameters"]["algorithm"] = "RANDOM_SEARCH"
    job["trainingInput"]["hyperparameters"]["maxTrials"] = 20
    assert tuning_progress(job).startswith("2/20 trials done")
