"""HyperparameterTuningJobOperator against the real local service: best trial to XCom, progress, templating."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from google.cloud import storage
from support import TRAINER_MODULE, TRAINER_PACKAGE, make_context, render_and_execute, runtime_for
from support.gcs_objects import put_gs_objects

from airflow_provider_trainjobs.operators import HyperparameterTuningJobOperator, SubmitTrainingJobOperator
from airflow_provider_trainjobs.spec import InvalidJobSpec

pytestmark = pytest.mark.timeout(120)

GRID = {
    "goal": "MAXIMIZE",
    "hyperparameterMetricTag": "accuracy",
    "algorithm": "GRID_SEARCH",
    "maxTrials": 3,
    "maxParallelTrials": 2,
    "params": [{"parameterName": "x", "type": "DISCRETE", "discreteValues": [0.1, 0.3, 0.5]}],
}


def test_tuning_pushes_the_best_trial_and_logs_progress(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, backend: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = new_bucket()
    with DAG(unique_dag_id, schedule=None):
        tune = HyperparameterTuningJobOperator(
            task_id="tune", package_path=str(TRAINER_PACKAGE), module_name=TRAINER_MODULE,
            staging_bucket=f"gs://{bucket.name}", hyperparameters=GRID, poll_interval=0.2, **runtime_for(backend),
        )
        final = SubmitTrainingJobOperator(
            task_id="final", module_name=TRAINER_MODULE,
            user_args=["--x={{ ti.xcom_pull(task_ids='tune', key='best_trial')['hyperparameters']['x'] }}"],
        )
        spliced = SubmitTrainingJobOperator(task_id="spliced", module_name=TRAINER_MODULE,
                                            user_args=["--epochs=1", tune.output["best_trial_args"]])
    store: dict[tuple[str, str], Any] = {}
    context = make_context(tune, store=store)
    job = render_and_execute(tune, context)

    assert job["state"] == "SUCCEEDED"
    trials = job["trainingOutput"]["trials"]
    assert sorted(float(t["hyperparameters"]["x"]) for t in trials) == [0.1, 0.3, 0.5]
    best = context["ti"].pushed["best_trial"]
    assert set(best) == {"trialId", "hyperparameters", "finalMetric"}
    assert float(best["hyperparameters"]["x"]) == 0.3
    assert float(best["finalMetric"]["objectiveValue"]) == pytest.approx(1.0)
    task_log = capsys.readouterr().out
    assert f"3/3 trials done, best accuracy=1 (trial {best['trialId']})" in task_log
    assert task_log.count("3/3 trials done") == 1  # one code path logs progress: the wait loop

    # a downstream task templates the best value into its user_args
    final.render_template_fields(make_context(final, store=store))
    assert final.user_args == [f"--x={best['hyperparameters']['x']}"]
    # or takes the ready argument list, spliced into its own
    assert context["ti"].pushed["best_trial_args"] == [f"--x={best['hyperparameters']['x']}"]
    spliced.render_template_fields(make_context(spliced, store=store))
    body = spliced._build_body("spliced_1", ["gs://bkt-1/t.tar.gz"], None)
    assert body["trainingInput"]["args"] == ["--epochs=1", f"--x={best['hyperparameters']['x']}"]


def test_deferred_tuning_logs_progress_while_the_trigger_waits(
    new_bucket: Callable[[], storage.Bucket], unique_dag_id: str, backend: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from support.tuning import assert_progress_logged

    bucket = new_bucket()
    with DAG(unique_dag_id, schedule=None):
        tune = HyperparameterTuningJobOperator(
            task_id="tune", package_path=str(TRAINER_PACKAGE), module_name=TRAINER_MODULE,
            staging_bucket=f"gs://{bucket.name}", hyperparameters=GRID, poll_interval=0.2, deferrable=True,
            **runtime_for(backend),
        )
    context = make_context(tune)
    with pytest.raises(TaskDeferred) as deferred:
        render_and_execute(tune, context)
    job_id = context["ti"].pushed["job_id"]
    capsys.readouterr()

    async def first_event() -> Any:
        return await anext(aiter(deferred.value.trigger.run()))

    event = asyncio.run(first_event())
    # every progress line, up to the final "3/3 trials done, best ...", was logged by the trigger while waiting
    assert_progress_logged(capsys.readouterr().out, job_id)
    job = tune.execute_complete(context, event=event.payload)
    assert f"Job {job_id}: " not in capsys.readouterr().out  # and none again by the operator afterwards
    assert job["state"] == "SUCCEEDED"
    assert float(context["ti"].pushed["best_trial"]["hyperparameters"]["x"]) == 0.3
    assert context["ti"].pushed["best_trial_args"] == [f"--x={context['ti'].pushed['best_trial']['hyperparameters']['x']}"]


def test_a_tuning_job_needs_hyperparameters(unique_dag_id: str, local_conn: Any) -> None:
    with DAG(unique_dag_id, schedule=None):
        tune = HyperparameterTuningJobOperator(task_id="tune", module_name="tiny_trainer.task",
                                               packages=["gs://some-bucket/tiny_trainer-0.0.0.tar.gz"])
    with pytest.raises(AirflowFailException, match="trainingInput.hyperparameters") as failed:
        render_and_execute(tune, make_context(tune))
    assert isinstance(failed.value.__cause__, InvalidJobSpec)


def test_resume_previous_job_id_is_added_to_the_spec_from_config(
    unique_dag_id: str, local_conn: Any, tmp_path: Any
) -> None:
    config = tmp_path / "hptuning_config.yaml"
    config.write_text(
        "trainingInput:\n"
        "  hyperparameters:\n"
        "    hyperparameterMetricTag: accuracy\n"
        "    maxTrials: 4\n"
        "    params:\n"
        "      - parameterName: x\n"
        "        type: DOUBLE\n"
        "        minValue: 0.0\n"
        "        maxValue: 1.0\n"
    )
    put_gs_objects(local_conn.storage_endpoint, "gs://some-bucket/tiny_trainer-0.0.0.tar.gz")  # checked before staging
    with DAG(unique_dag_id, schedule=None):
        tune = HyperparameterTuningJobOperator(
            task_id="tune", module_name="tiny_trainer.task", config=str(config),
            packages=["gs://some-bucket/tiny_trainer-0.0.0.tar.gz"],
            resume_previous_job_id="{{ params.previous }}", params={"previous": "earlier_tuning_job"},
        )
    context = make_context(tune)
    tune.render_template_fields(context)
    body = tune.prepare_job(context)  # validation + staging only; gs:// packages pass through, nothing submitted
    spec = body["trainingInput"]["hyperparameters"]
    assert spec["resumePreviousJobId"] == "earlier_tuning_job"
    assert spec["maxTrials"] == 4 and spec["params"][0]["parameterName"] == "x"
