"""push_best_trial: the XComs best_trial / best_trial_args and the line that says why there is no best trial."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from airflow.sdk import DAG
from support import RecordingTI

from airflow_provider_trainjobs.operators import SubmitTrainingJobOperator
from airflow_provider_trainjobs.operators._common import best_trial_args, push_best_trial
from airflow_provider_trainjobs.spec import InvalidJobSpec

SPEC = {"goal": "MAXIMIZE", "hyperparameterMetricTag": "accuracy", "maxTrials": 3, "params": []}


def tuning_job(trials: list[dict[str, Any]]) -> dict[str, Any]:
    return {"jobId": "tune_1", "state": "SUCCEEDED", "trainingInput": {"hyperparameters": SPEC},
            "trainingOutput": {"isHyperparameterTuningJob": True, "trials": trials}}


def trial(trial_id: str, state: str = "SUCCEEDED", value: float | None = None, **hp: str) -> dict[str, Any]:
    found: dict[str, Any] = {"trialId": trial_id, "state": state, "hyperparameters": hp}
    if value is not None:
        found["finalMetric"] = {"trainingStep": "1", "objectiveValue": value}
    return found


def push(job: dict[str, Any], caplog: pytest.LogCaptureFixture) -> tuple[dict[str, Any], str]:
    ti = RecordingTI()
    with caplog.at_level(logging.INFO):
        push_best_trial({"ti": ti}, job, logging.getLogger("test.best_trial"))
    return ti.pushed, caplog.text


def test_the_best_trial_and_its_ready_arguments_are_pushed(caplog: pytest.LogCaptureFixture) -> None:
    job = tuning_job([trial("1", value=0.5, learning_rate="0.1", hidden_units="8"),
                      trial("2", value=0.9, learning_rate="0.25", hidden_units="16")])
    pushed, log = push(job, caplog)
    assert pushed["best_trial"] == {"trialId": "2", "hyperparameters": {"learning_rate": "0.25", "hidden_units": "16"},
                                    "finalMetric": {"trainingStep": "1", "objectiveValue": 0.9}}
    assert pushed["best_trial_args"] == ["--learning_rate=0.25", "--hidden_units=16"]
    assert "best trial 2: {'learning_rate': '0.25', 'hidden_units': '16'} -> " in log


@pytest.mark.parametrize(("trials", "reason"), [
    ([], "it ran no trial"),
    ([trial("1", "FAILED"), trial("2", "CANCELLED")], "none of its 2 trial(s) SUCCEEDED"),
    ([trial("1", x="1")], "no trial reported the metric 'accuracy' (hyperparameterMetricTag"),
])
def test_no_best_trial_pushes_none_and_says_why(trials: list[dict[str, Any]], reason: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    pushed, log = push(tuning_job(trials), caplog)
    assert pushed == {"best_trial": None, "best_trial_args": None}
    assert f"tuning job tune_1 has no best trial: {reason}" in log


def test_a_job_that_is_not_a_tuning_job_pushes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    pushed, _ = push({"jobId": "j", "state": "SUCCEEDED", "trainingInput": {"scaleTier": "BASIC"}}, caplog)
    assert pushed == {}


def test_best_trial_args_keeps_the_reported_values() -> None:
    assert best_trial_args({"hyperparameters": {"optimizer": "adam", "lr": "1e-3"}}) == ["--optimizer=adam", "--lr=1e-3"]
    assert best_trial_args(None) is None


def _final(user_args: list[Any]) -> SubmitTrainingJobOperator:
    with DAG("best_args", schedule=None):
        return SubmitTrainingJobOperator(task_id="final", module_name="trainer.task", region="us-central1",
                                         packages=["gs://bkt-1/t.tar.gz"], user_args=user_args)


def test_a_list_in_user_args_is_spliced_in_place() -> None:
    body = _final(["--epochs=3", ["--lr=0.25", "--units=16"], "--seed=1"])._build_body("j1", ["gs://bkt-1/t.tar.gz"],
                                                                                        None, {})
    assert body["trainingInput"]["args"] == ["--epochs=3", "--lr=0.25", "--units=16", "--seed=1"]


def test_an_empty_upstream_xcom_in_user_args_fails_naming_the_entry() -> None:
    with pytest.raises(InvalidJobSpec, match=r"user_args\[1\]: is None: the XCom it comes from is empty"):
        _final(["--epochs=3", None])._build_body("j1", ["gs://bkt-1/t.tar.gz"], None, {})
