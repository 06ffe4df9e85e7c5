"""Weekly retraining: seed the data, package the trainer, tune it, train the final model, report.

prepare_data → package → tune (6 trials, 2 at a time, deferred) → train_final (best values, deferred) → report

Runs against whatever ``google_cloud_default`` points at: the local service (``make demo``), AI Platform's
``ml`` v1 protocol or Vertex AI (``backend`` extra). Only cheap modules are imported at parse time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_trainjobs.operators import (
    HyperparameterTuningJobOperator,
    PackageTrainingAppOperator,
    SubmitTrainingJobOperator,
)

HERE = Path(__file__).resolve().parent
TRAINER_APP = HERE / "trainer_app"
DATA = "{{ ti.xcom_pull(task_ids='prepare_data') }}"
# Every Airflow 3 run has run_after; runs from `airflow dags trigger` or the REST API have no logical date.
RUN_STAMP = "{{ dag_run.run_after | ts_nodash }}"  # e.g. 20250106T093000
RUN_DIR = "gs://{{ params.bucket }}/runs/" + RUN_STAMP

with DAG(
    dag_id="retraining",
    description="Tune and retrain the example classifier every week",
    schedule="@weekly",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"bucket": "trainjobs-demo", "samples": 800, "epochs": 20},
    tags=["trainjobs", "example"],
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
) as dag:

    @task
    def prepare_data(bucket: str, stamp: str, params: dict[str, Any] | None = None) -> str:
        """Write this run's training CSV to gs://<bucket>/data/<stamp>/train.csv (creating the bucket)."""
        import sys

        from airflow_provider_trainjobs.hooks.staging import StagingHook

        sys.path.insert(0, str(TRAINER_APP))
        from trainer import util  # the trainer app's own dataset helper

        client = StagingHook().get_conn()  # the connection's Cloud Storage endpoint and credentials
        target = client.lookup_bucket(bucket) or client.create_bucket(bucket)
        name = f"data/{stamp}/train.csv"
        samples = int((params or {}).get("samples", 800))
        target.blob(name).upload_from_string(util.dataset_csv(samples), content_type="text/csv")
        print(f"Uploaded {samples} rows to gs://{bucket}/{name}")
        return f"gs://{bucket}/{name}"

    data = prepare_data("{{ params.bucket }}", RUN_STAMP)

    package = PackageTrainingAppOperator(
        task_id="package",
        package_path=str(TRAINER_APP / "trainer"),
        staging_bucket="gs://{{ params.bucket }}/staging",
    )

    tune = HyperparameterTuningJobOperator(
        task_id="tune",
        config="config/hptuning_config.yaml",  # relative to this file
        packages=package.output,
        module_name="trainer.task",
        job_dir=f"{RUN_DIR}/tune",
        user_args=[f"--train-data={DATA}", "--num-epochs={{ params.epochs }}"],
        deferrable=True,
        poll_interval=2.0,
    )

    train_final = SubmitTrainingJobOperator(
        task_id="train_final",
        packages=package.output,
        module_name="trainer.task",
        job_dir=f"{RUN_DIR}/final",
        runtime_version="2.11",  # the prebuilt training container on Vertex AI
        python_version="3.7",
        # the best trial's values as the trials received them: ["--learning_rate=0.25", "--hidden_units=30"]
        user_args=[f"--train-data={DATA}", "--num-epochs={{ params.epochs }}", tune.output["best_trial_args"]],
        deferrable=True,
        poll_interval=2.0,
    )

    @task
    def report(final_job: dict[str, Any], ti: Any = None) -> dict[str, Any]:
        """Print the best trial and where the final model landed; the return value is the run's summary."""
        best_trial = ti.xcom_pull(task_ids="tune", key="best_trial")
        job_dir = final_job["trainingInput"]["jobDir"]
        summary = {
            "best_trial": best_trial,
            "final_job_id": final_job["jobId"],
            "final_state": final_job["state"],
            "model_uri": f"{job_dir}/model/model.npz",
        }
        if best_trial:
            metric = (best_trial.get("finalMetric") or {}).get("objectiveValue")
            print(f"Best trial {best_trial['trialId']}: {best_trial['hyperparameters']} accuracy={metric}")
        else:
            print("No best trial: no tuning trial of this run reported a metric (see the tune task's log)")
        print(f"Final model ({final_job['jobId']}, {final_job['state']}): {summary['model_uri']}")
        return summary

    data >> package >> tune >> train_final
    report(train_final.output)
