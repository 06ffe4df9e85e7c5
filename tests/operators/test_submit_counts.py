"""One deferrable submit with a YAML config reads the config, builds and validates the body once (issue 9.3).

Counted against the real local service: the staging upload and the create really happen, so what is counted
is what a task pays in production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.sdk import DAG
from airflow.sdk.exceptions import TaskDeferred
from google.cloud import storage
from support import TRAINER_MODULE, TRAINER_PACKAGE, make_context, render_and_execute

import airflow_provider_trainjobs.spec as spec_package
import airflow_provider_trainjobs.spec.build as spec_build
from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.operators import HyperparameterTuningJobOperator, SubmitTrainingJobOperator

pytestmark = pytest.mark.timeout(120)

_HYPERPARAMETERS = {
    "goal": "MAXIMIZE", "hyperparameterMetricTag": "accuracy", "maxTrials": 1, "maxParallelTrials": 1,
    "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0.1, "maxValue": 0.9}],
}


class Counts:
    """Calls of what a submit must do once: config file reads, builds, validations, training hooks, job GETs."""

    def __init__(self) -> None:
        self.calls = {"config": 0, "build": 0, "validate": 0, "hook": 0, "get": 0}

    def wrap(self, monkeypatch: pytest.MonkeyPatch, target: Any, name: str, key: str,
             counts: Callable[..., bool] = lambda *_, **__: True) -> None:
        real = getattr(target, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[key] += counts(*args, **kwargs)
            return real(*args, **kwargs)

        monkeypatch.setattr(target, name, counted)


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counts]:
    found = Counts()
    def is_file(source: Any, *_: Any) -> bool:
        return not isinstance(source, Mapping)  # a dict config is not a file read

    # load_config is the one reader of config files; the operator and build_training_job reach it by these names
    found.wrap(monkeypatch, spec_package, "load_config", "config", is_file)
    found.wrap(monkeypatch, spec_build, "load_config", "config", is_file)
    found.wrap(monkeypatch, spec_package, "build_training_job", "build")
    found.wrap(monkeypatch, spec_build, "validate_job", "validate")
    real_init = TrainingJobHook.__init__

    def init(hook: TrainingJobHook, *args: Any, **kwargs: Any) -> None:
        found.calls["hook"] += 1
        real_init(hook, *args, **kwargs)

    monkeypatch.setattr(TrainingJobHook, "__init__", init)
    found.wrap(monkeypatch, TrainingJobHook, "get_job", "get")
    yield found


def _config(tmp_path: Path, training_input: dict[str, Any]) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump({"labels": {"team": "ml"}, "trainingInput": training_input}))
    return path


@pytest.mark.parametrize("operator", [SubmitTrainingJobOperator, HyperparameterTuningJobOperator])
def test_a_deferrable_yaml_config_submit_parses_builds_and_validates_once(
    operator: type[SubmitTrainingJobOperator], counts: Counts, new_bucket: Callable[[], storage.Bucket],
    unique_dag_id: str, local_conn: Any, tmp_path: Path,
) -> None:
    bucket = new_bucket()
    training_input: dict[str, Any] = {"region": "europe-west1", "scaleTier": "BASIC"}
    extra: dict[str, Any] = {}
    if operator is HyperparameterTuningJobOperator:
        training_input["hyperparameters"] = _HYPERPARAMETERS
        extra["resume_previous_job_id"] = "earlier_job"
    with DAG(unique_dag_id, schedule=None):
        op = operator(task_id="train", config=str(_config(tmp_path, training_input)), package_path=str(TRAINER_PACKAGE),
                      module_name=TRAINER_MODULE, staging_bucket=f"gs://{bucket.name}", deferrable=True, **extra)
    with pytest.raises(TaskDeferred) as deferred:
        render_and_execute(op, make_context(op))

    # one GET: the look for an earlier try's job before the create; none after it (the create answers the Job)
    assert counts.calls == {"config": 1, "build": 1, "validate": 1, "hook": 1, "get": 1}
    job = TrainingJobHook().get_job(op._submitted_job_id or "")
    assert job["trainingInput"]["region"] == "europe-west1"
    assert job["labels"]["team"] == "ml" and job["labels"]["airflow_task_id"] == "train"
    (uri,) = job["trainingInput"]["packageUris"]
    assert uri.startswith(f"gs://{bucket.name}/") and bucket.get_blob(uri.split("/", 3)[3]) is not None
    assert deferred.value.trigger.serialize()[1]["region"] == "europe-west1"
    if operator is HyperparameterTuningJobOperator:
        assert job["trainingInput"]["hyperparameters"]["resumePreviousJobId"] == "earlier_job"
        assert job["trainingInput"]["hyperparameters"]["maxTrials"] == 1
