"""Hyperparameter tuning jobs on the local service through the real client.

The toolbox trainer's metric is a known function of its flags: ``-(x-3)**2 + n + {a:0, b:10, c:5}[kind] + y``.
"""

from __future__ import annotations

import itertools
import json
import math
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from support import list_log_entries, logging_client, make_job, ml_client, unique, upload, wait_for

from airflow_provider_trainjobs.spec.results import DEFAULT_METRIC_TAG

PROJECT = "local-project"
TAG = DEFAULT_METRIC_TAG


def _submit(service: Any, sdist: Path, hyperparameters: dict[str, Any], args: list[str] | None = None,
            job_id: str | None = None) -> dict[str, Any]:
    ml = ml_client(service.api_endpoint)
    uri = upload(service.storage_endpoint, sdist)
    job_id = job_id or unique("hp")
    body = make_job(job_id, uri, ["--mode", "hp", *(args or [])], hyperparameters=hyperparameters)
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    return wait_for(ml, PROJECT, job_id, limit=120)


def _max_overlap(trials: list[dict[str, Any]]) -> int:
    events = sorted([(t["startTime"], 1) for t in trials] + [(t["endTime"], -1) for t in trials],
                    key=lambda e: (e[0], e[1]))
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


def _logs(service: Any, job_id: str) -> list[dict[str, Any]]:
    return list_log_entries(logging_client(service.api_endpoint), job_id)


def test_grid_search_runs_the_whole_grid_and_finds_the_best(local_service: Any, trainer_sdist: Path) -> None:
    spec = {
        "goal": "MAXIMIZE", "algorithm": "GRID_SEARCH", "maxTrials": 20, "maxParallelTrials": 3,
        "params": [
            {"parameterName": "x", "type": "DISCRETE", "discreteValues": [1, 2, 3, 4]},
            {"parameterName": "kind", "type": "CATEGORICAL", "categoricalValues": ["a", "b", "c"]},
        ],
    }
    job = _submit(local_service, trainer_sdist, spec)

    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    output = job["trainingOutput"]
    trials = output["trials"]
    assert output["isHyperparameterTuningJob"] is True and output["hyperparameterMetricTag"] == TAG
    assert output["completedTrialCount"] == "12" and len(trials) == 12
    combos = {(t["hyperparameters"]["x"], t["hyperparameters"]["kind"]) for t in trials}
    assert combos == set(itertools.product(["1", "2", "3", "4"], ["a", "b", "c"]))
    for trial in trials:
        x, kind = float(trial["hyperparameters"]["x"]), trial["hyperparameters"]["kind"]
        expected = -((x - 3) ** 2) + {"a": 0, "b": 10, "c": 5}[kind]
        assert trial["state"] == "SUCCEEDED"
        assert math.isclose(trial["finalMetric"]["objectiveValue"], expected)
        assert trial["finalMetric"]["trainingStep"] == "1"
    best = max(trials, key=lambda t: t["finalMetric"]["objectiveValue"])
    assert best["hyperparameters"] == {"x": "3", "kind": "b"}
    assert 1 < _max_overlap(trials) <= 3

    entries = _logs(local_service, job["jobId"])
    installs = [e for e in entries if "Installing package" in e["jsonPayload"]["message"]
                or "already installed" in e["jsonPayload"]["message"]]
    assert len(installs) == 1, "packages are installed once per job, not per trial"
    reports = [(e, json.loads(e["jsonPayload"]["message"])) for e in entries
               if e["jsonPayload"]["message"].startswith('{"trial"')]
    assert len(reports) == 12
    for entry, report in reports:
        assert report["trial"] == entry["labels"]["trial_id"] == str(report["task"]["trial"])
        assert report["task"]["type"] == "master"
    assert len({r["metric_file"] for _, r in reports}) == 12


def test_minimize_and_max_trials_below_grid_size(local_service: Any, trainer_sdist: Path) -> None:
    spec = {
        "goal": "MINIMIZE", "algorithm": "GRID_SEARCH", "maxTrials": 3, "maxParallelTrials": 1,
        "hyperparameterMetricTag": "loss",
        "params": [{"parameterName": "x", "type": "INTEGER", "minValue": 1, "maxValue": 9}],
    }
    job = _submit(local_service, trainer_sdist, spec, ["--tag", "loss"])
    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    trials = job["trainingOutput"]["trials"]
    assert [t["hyperparameters"]["x"] for t in trials] == ["1", "2", "3"]
    assert job["trainingOutput"]["hyperparameterMetricTag"] == "loss"
    best = min(trials, key=lambda t: t["finalMetric"]["objectiveValue"])
    assert best["hyperparameters"]["x"] == "1"
    assert _max_overlap(trials) == 1


def test_random_search_respects_bounds_and_log_scale(local_service: Any, trainer_sdist: Path) -> None:
    spec = {
        "goal": "MAXIMIZE", "algorithm": "RANDOM_SEARCH", "maxTrials": 12, "maxParallelTrials": 4,
        "params": [
            {"parameterName": "y", "type": "DOUBLE", "minValue": 0.001, "maxValue": 10,
             "scaleType": "UNIT_LOG_SCALE"},
            {"parameterName": "n", "type": "INTEGER", "minValue": 1, "maxValue": 5},
        ],
    }
    # The service seeds its sampler from the project and job id: a fixed id makes the draw below fixed.
    job = _submit(local_service, trainer_sdist, spec, job_id="hp_random_search_seeded")
    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    trials = job["trainingOutput"]["trials"]
    assert len(trials) == 12
    ys = [float(t["hyperparameters"]["y"]) for t in trials]
    ns = [t["hyperparameters"]["n"] for t in trials]
    assert all(0.001 <= y <= 10 for y in ys)
    assert all(n in {"1", "2", "3", "4", "5"} for n in ns)
    # On a log scale half the mass lies below 0.1; a linear draw would put 1% there.
    assert any(y < 0.1 for y in ys)
    for trial in trials:
        expected = -9 + int(trial["hyperparameters"]["n"]) + float(trial["hyperparameters"]["y"])
        assert math.isclose(trial["finalMetric"]["objectiveValue"], expected, rel_tol=1e-9)
    assert _max_overlap(trials) <= 4


def test_max_failed_trials_fails_the_job(local_service: Any, trainer_sdist: Path) -> None:
    spec = {
        "algorithm": "GRID_SEARCH", "maxTrials": 4, "maxParallelTrials": 1, "maxFailedTrials": 1,
        "params": [{"parameterName": "x", "type": "DISCRETE", "discreteValues": [1, 2, 3, 4]}],
    }
    job = _submit(local_service, trainer_sdist, spec, ["--fail-when-x", "2"])
    assert job["state"] == "FAILED"
    assert "maxFailedTrials (1)" in job["errorMessage"] and "trial 2" in job["errorMessage"]
    trials = job["trainingOutput"]["trials"]
    assert [(t["trialId"], t["state"]) for t in trials] == [("1", "SUCCEEDED"), ("2", "FAILED")]


def test_completed_trial_count_counts_only_successes(local_service: Any, trainer_sdist: Path) -> None:
    spec = {
        "algorithm": "GRID_SEARCH", "maxTrials": 3, "maxParallelTrials": 3,
        "params": [{"parameterName": "x", "type": "INTEGER", "minValue": 1, "maxValue": 3}],
    }
    job = _submit(local_service, trainer_sdist, spec, ["--fail-when-x", "3"])
    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    states = {t["hyperparameters"]["x"]: t["state"] for t in job["trainingOutput"]["trials"]}
    assert states == {"1": "SUCCEEDED", "2": "SUCCEEDED", "3": "FAILED"}
    # ml v1: "The number of hyperparameter tuning trials that completed successfully."
    assert job["trainingOutput"]["completedTrialCount"] == "2"


def test_early_stopping_stops_a_trailing_trial(local_service: Any, trainer_sdist: Path) -> None:
    spec = {
        "algorithm": "GRID_SEARCH", "maxTrials": 3, "maxParallelTrials": 1, "enableTrialEarlyStopping": True,
        "params": [{"parameterName": "kind", "type": "CATEGORICAL", "categoricalValues": ["b", "c", "a"]}],
    }
    job = _submit(local_service, trainer_sdist, spec, ["--x", "3", "--steps", "8", "--sleep", "0.1"])
    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    trials = {t["hyperparameters"]["kind"]: t for t in job["trainingOutput"]["trials"]}
    assert not trials["b"].get("isTrialStoppedEarly") and not trials["c"].get("isTrialStoppedEarly")
    stopped = trials["a"]
    assert stopped["isTrialStoppedEarly"] is True and stopped["state"] == "SUCCEEDED"
    assert int(stopped["finalMetric"]["trainingStep"]) < 8
    assert trials["b"]["finalMetric"] == {"trainingStep": "8", "objectiveValue": 10.0}


def test_resume_continues_the_previous_search(local_service: Any, trainer_sdist: Path) -> None:
    params = [{"parameterName": "x", "type": "DISCRETE", "discreteValues": [1, 2, 3, 4]}]
    first = _submit(local_service, trainer_sdist, {"algorithm": "GRID_SEARCH", "maxTrials": 2, "params": params},
                    ["--fail-when-x", "2"])
    assert [(t["hyperparameters"]["x"], t["state"]) for t in first["trainingOutput"]["trials"]] == [
        ("1", "SUCCEEDED"), ("2", "FAILED")]
    second = _submit(local_service, trainer_sdist, {"algorithm": "GRID_SEARCH", "maxTrials": 2, "params": params,
                                                    "resumePreviousJobId": first["jobId"]})
    assert second["state"] == "SUCCEEDED", second.get("errorMessage")
    # x=1 succeeded before and is skipped; x=2 failed before and is tried again.
    assert [t["hyperparameters"]["x"] for t in second["trainingOutput"]["trials"]] == ["2", "3"]

    missing = _submit(local_service, trainer_sdist, {"algorithm": "GRID_SEARCH", "maxTrials": 2, "params": params,
                                                     "resumePreviousJobId": "never_ran"})
    assert missing["state"] == "FAILED" and "resumePreviousJobId" in missing["errorMessage"]


def test_resume_from_a_job_that_is_not_a_tuning_job_fails(local_service: Any, trainer_sdist: Path) -> None:
    ml = ml_client(local_service.api_endpoint)
    plain_id = unique("plain")
    body = make_job(plain_id, upload(local_service.storage_endpoint, trainer_sdist), ["--mode", "hp", "--x", "3"])
    ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=body).execute()
    assert wait_for(ml, PROJECT, plain_id)["state"] == "SUCCEEDED"

    params = [{"parameterName": "x", "type": "DISCRETE", "discreteValues": [1, 2]}]
    job = _submit(local_service, trainer_sdist, {"algorithm": "GRID_SEARCH", "maxTrials": 2, "params": params,
                                                 "resumePreviousJobId": plain_id})
    assert job["state"] == "FAILED"
    assert job["errorMessage"] == (
        f"trainingInput.hyperparameters.resumePreviousJobId: job {plain_id} is not a hyperparameter tuning job;"
        " only a tuning job's trials can be resumed"
    )
    assert job["trainingOutput"]["trials"] == []


def test_console_page_serves_the_job_and_404s_unknown(local_service: Any, trainer_sdist: Path) -> None:
    spec = {"algorithm": "GRID_SEARCH", "maxTrials": 2, "maxParallelTrials": 2,
            "params": [{"parameterName": "x", "type": "DISCRETE", "discreteValues": [2, 3]}]}
    job = _submit(local_service, trainer_sdist, spec)
    with urllib.request.urlopen(f"{local_service.api_endpoint}/console/jobs/{job['jobId']}", timeout=10) as resp:
        page = resp.read().decode()
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert job["jobId"] in page and "<svg" in page and "SUCCEEDED" in page
    try:
        urllib.request.urlopen(f"{local_service.api_endpoint}/console/jobs/nope", timeout=10)
        status = 200
    except urllib.error.HTTPError as err:
        status = err.code
        assert "nope" in err.read().decode()
    assert status == 404
