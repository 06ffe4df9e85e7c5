"""Runs the trials of a hyperparameter tuning job inside one engine run.

Up to ``total_trials()`` trials, at most ``maxParallelTrials`` at once (and never more than the service's
``--max-concurrent-jobs``); each trial is a full replica set with ``--<name>=<value>`` appended to the
args, its own CLOUD_ML_TRIAL_ID, TF_CONFIG ``task.trial`` and CLOUD_ML_HP_METRIC_FILE. The packages were
installed once for the job before this runs. trainingOutput is rewritten as trials start and end.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_trainjobs.local.cluster import Cluster, RunContext, plan_job
from airflow_provider_trainjobs.local.envs import JobEnvironment
from airflow_provider_trainjobs.local.timestamps import rfc3339
from airflow_provider_trainjobs.spec.results import DEFAULT_METRIC_TAG

if TYPE_CHECKING:
    from airflow_provider_trainjobs.local.engine import Engine, Run

EARLY_STOP_CHECK_INTERVAL = 0.1
# With maxFailedTrials unset or 0 ("the service decides"), a job whose first FAIL_FAST_TRIALS finished trials
# all failed is failed at once: a trainer that cannot start would otherwise run every one of maxTrials.
FAIL_FAST_TRIALS = 3


@dataclass
class _Trial:
    record: dict[str, Any]
    params: dict[str, str]
    cluster: Cluster
    metric_file: Path
    checked_at: float = 0.0
    values: list[float] = field(default_factory=list)


def _metric_view(measurements: list[Any]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    every = [{"trainingStep": str(m.step), "objectiveValue": m.value} for m in measurements]
    return (every[-1] if every else None), every


class _Tuning:
    """The state of one tuning run: the suggester, the trial records and the trials still running."""

    def __init__(self, engine: Engine, run: Run, job: dict[str, Any], environment: JobEnvironment) -> None:
        self.engine, self.run, self.job, self.environment = engine, run, job, environment
        self.project, self.job_id = run.project, run.job_id
        self.training: dict[str, Any] = job["trainingInput"]
        self.spec: dict[str, Any] = self.training["hyperparameters"]
        self.tag: str = self.spec.get("hyperparameterMetricTag") or DEFAULT_METRIC_TAG
        self.goal: str = self.spec.get("goal") or "MAXIMIZE"
        self.trials: list[dict[str, Any]] = []
        self.active: dict[str, _Trial] = {}
        self.completed_values: list[list[float]] = []
        # completedTrialCount is the number of trials that completed successfully (ml v1 TrainingOutput).
        self.failed = self.succeeded = self.launched = 0
        self.last_failure = self.first_failure = ""

    def log(self, severity: str, message: str, trial_id: str | None = None) -> None:
        self.engine.log(self.project, self.job_id, severity, message, trial_id=trial_id)

    def publish(self) -> None:
        """Write trainingOutput (and the live trainer pids) to the job record."""
        self.engine.update_output(self.project, self.job_id, {
            "isHyperparameterTuningJob": True,
            "completedTrialCount": str(self.succeeded),
            "hyperparameterMetricTag": self.tag,
            "trials": self.trials,
        })
        self.engine.store.set_pids(
            self.project, self.job_id, [pid for t in self.active.values() for pid in t.cluster.pids]
        )

    def cancel_active(self) -> None:
        for trial in self.active.values():
            trial.cluster.kill(grace=0.5)
            trial.record.update(state="CANCELLED", endTime=rfc3339(time.time()))
        self.active.clear()
        self.publish()

    def execute(self) -> tuple[str, str]:
        try:
            return self._execute()
        finally:
            if self.active:  # cancelled, past a deadline or failed: settle the trials still running
                self.cancel_active()

    def _previous_trials(self) -> list[dict[str, Any]] | str:
        earlier_id = self.spec.get("resumePreviousJobId")
        if not earlier_id:
            return []
        earlier = self.engine.store.get_job(self.project, earlier_id)
        if earlier is None:
            return (f"trainingInput.hyperparameters.resumePreviousJobId: job {earlier_id} does not exist"
                    f" in project {self.project}")
        output = earlier.get("trainingOutput") or {}
        if not (earlier.get("trainingInput") or {}).get("hyperparameters") and not output.get(
            "isHyperparameterTuningJob"
        ):
            return (f"trainingInput.hyperparameters.resumePreviousJobId: job {earlier_id} is not a"
                    " hyperparameter tuning job; only a tuning job's trials can be resumed")
        previous = list(output.get("trials") or [])
        self.log("INFO", f"Resuming the search of job {earlier_id} ({len(previous)} earlier trials).")
        return previous

    def _start_trial(self, params: dict[str, str], plans: list[Any]) -> None:
        self.launched += 1
        trial_id = str(self.launched)
        workdir = self.engine.data_dir / "work" / self.project / self.job_id / "trials" / trial_id
        metric_file = workdir / "hypertune" / "output.metrics"
        metric_file.parent.mkdir(parents=True, exist_ok=True)
        ctx = RunContext(
            self.project, self.job_id, self.training, workdir, self.environment, self.engine.storage_endpoint,
            trial_id=trial_id, extra_args=[f"--{name}={value}" for name, value in params.items()],
            metric_file=metric_file, vertex=self.job.get("vertex"),
            gcs_root=self.run.gcs.root if self.run.gcs is not None else None, service_dir=self.engine.data_dir,
        )
        cluster = Cluster(ctx, plans, self.engine.sink_for(self.project, self.job_id))
        record: dict[str, Any] = {"trialId": trial_id, "hyperparameters": dict(params), "state": "RUNNING",
                                  "startTime": rfc3339(time.time())}
        cluster.start()
        self.run.clusters.append(cluster)
        self.trials.append(record)
        self.active[trial_id] = _Trial(record, params, cluster, metric_file)
        self.log("INFO", f"Trial {trial_id} started with {params}.", trial_id)

    def _settle(self, trial_id: str, trial: _Trial, ok: bool, why: str, stopped_early: bool, suggester: Any) -> None:
        from airflow_provider_trainjobs.local.tuning import read_hypertune_metrics

        measurements = read_hypertune_metrics(trial.metric_file, self.tag)
        final, every = _metric_view(measurements)
        record = trial.record
        record["endTime"] = rfc3339(trial.cluster.ended_at or time.time())
        if final is not None:
            record["finalMetric"] = final
            record["allMetrics"] = every
        if ok:
            record["state"] = "SUCCEEDED"
            self.succeeded += 1
            if stopped_early:
                record["isTrialStoppedEarly"] = True
                self.log("INFO", f"Trial {trial_id} stopped early: its {self.tag} trails the median of completed"
                         " trials.", trial_id)
            if final is None:
                self.log("WARNING", f"Trial {trial_id} reported no value for {self.tag}.", trial_id)
            else:
                self.completed_values.append([m.value for m in measurements])
            suggester.report(trial.params, None if final is None else float(final["objectiveValue"]))
        else:
            record["state"] = "FAILED"
            self.failed += 1
            self.last_failure = f"trial {trial_id}: {why}"
            self.first_failure = self.first_failure or self.last_failure
            suggester.report(trial.params, None, failed=True)
            self.log("ERROR", f"Trial {trial_id} failed: {why}", trial_id)
        del self.active[trial_id]
        self.run.clusters.remove(trial.cluster)

    def _should_stop(self, trial: _Trial) -> bool:
        from airflow_provider_trainjobs.local.tuning import read_hypertune_metrics, should_stop_early

        if time.monotonic() - trial.checked_at < EARLY_STOP_CHECK_INTERVAL:
            return False
        trial.checked_at = time.monotonic()
        values = [m.value for m in read_hypertune_metrics(trial.metric_file, self.tag)]
        if values == trial.values:
            return False
        trial.values = values
        return should_stop_early(self.goal, values, self.completed_values)

    def _execute(self) -> tuple[str, str]:
        from airflow_provider_trainjobs.local.tuning import TrialSuggester

        previous = self._previous_trials()
        if isinstance(previous, str):
            return "FAILED", previous
        try:
            # Seeded by the job's name: the same job id on a fresh service suggests the same values.
            seed = zlib.crc32(f"{self.project}/{self.job_id}".encode())
            suggester = TrialSuggester(self.spec, seed=seed, previous_trials=previous)
        except ValueError as err:
            return "FAILED", f"trainingInput.hyperparameters: {err}"
        total = suggester.total_trials()
        parallel = max(1, min(int(self.spec.get("maxParallelTrials") or 1), self.engine.max_concurrent_jobs))
        max_failed = int(self.spec.get("maxFailedTrials") or 0)
        early_stopping = bool(self.spec.get("enableTrialEarlyStopping"))
        plans, note = plan_job(self.job, self.engine.max_replicas)
        if note:
            self.log("WARNING", note)
        self.log("INFO", f"Hyperparameter tuning: {total} trials, at most {parallel} in parallel,"
                 f" goal {self.goal} on {self.tag}.")
        self.publish()
        while True:
            self.engine.check(self.run, self.job)
            started = False
            while len(self.active) < parallel and self.launched < total:
                params = suggester.suggest()
                if params is None:
                    total = self.launched
                    break
                self._start_trial(params, plans)
                started = True
            changed = started
            for trial_id, trial in list(self.active.items()):
                outcome = trial.cluster.poll()
                stopped_early = False
                if outcome is None and early_stopping and self._should_stop(trial):
                    trial.cluster.kill(grace=0.5)
                    stopped_early, outcome = True, (True, "")
                if outcome is not None:
                    self._settle(trial_id, trial, outcome[0], outcome[1], stopped_early, suggester)
                    changed = True
            if changed:
                self.publish()
            if max_failed and self.failed >= max_failed:
                return "FAILED", (
                    f"{self.failed} trials failed, reaching trainingInput.hyperparameters.maxFailedTrials"
                    f" ({max_failed}). Last failure: {self.last_failure}"
                )
            if not max_failed and not self.succeeded and self.failed >= FAIL_FAST_TRIALS:
                return "FAILED", (
                    f"The first {self.failed} trials failed and none succeeded, so the service stopped the job"
                    " (trainingInput.hyperparameters.maxFailedTrials is unset: the service decides; set it to"
                    f" allow more failures). First failure: {self.first_failure}"
                )
            if not self.active and self.launched >= total:
                break
            time.sleep(self.engine.poll_interval)
        if not any(t["state"] == "SUCCEEDED" for t in self.trials):
            return "FAILED", f"All {len(self.trials)} trials failed. First failure: {self.first_failure}"
        return "SUCCEEDED", ""


def run_tuning(engine: Engine, run: Run, job: dict[str, Any], environment: JobEnvironment) -> tuple[str, str]:
    """Run every trial of ``job`` in ``environment``; returns the job's final (state, errorMessage)."""
    return _Tuning(engine, run, job, environment).execute()
