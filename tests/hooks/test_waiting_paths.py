"""One job, three waiters: the sync loop, the trigger and the sensor's poke log the same lines in the same order.

The job's life is scripted (queued, preparing, running with tuning progress, then past its maxRunningTime),
because no service produces one exact sequence of observations for three waiters that poll at their own pace;
everything after the GET (the state machine, the logging, the cancel) is the real code of each path.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_trainjobs.hooks.errors import TrainingJobDeadlineExceeded
from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.hooks.waiting import raise_for_event
from airflow_provider_trainjobs.sensors import TrainingJobSensor
from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger

JOB_ID = "paths_job"
NOW = datetime.now(UTC)


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def tuning(state: str, trials: int, started: datetime | None = None) -> dict[str, Any]:
    job: dict[str, Any] = {
        "jobId": JOB_ID, "state": state, "createTime": stamp(NOW - timedelta(minutes=5)),
        "trainingInput": {"scheduling": {"maxRunningTime": "3600s"},
                          "hyperparameters": {"maxTrials": 2, "hyperparameterMetricTag": "accuracy"}},
        "trainingOutput": {"isHyperparameterTuningJob": True, "trials": [
            {"trialId": str(n), "state": "SUCCEEDED", "finalMetric": {"objectiveValue": n / 10}}
            for n in range(1, trials + 1)]},
    }
    if started:
        job["startTime"] = stamp(started)
    return job


SCRIPT = [
    tuning("QUEUED", 0), tuning("QUEUED", 0), tuning("PREPARING", 0),
    tuning("RUNNING", 0, NOW), tuning("RUNNING", 1, NOW), tuning("RUNNING", 1, NOW),
    tuning("RUNNING", 1, NOW - timedelta(hours=2)),  # past maxRunningTime + grace: cancelled
]


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch, local_conn: Any) -> Iterator[list[str]]:
    """Every GET answers the next view of SCRIPT; cancels are recorded."""
    views = iter(SCRIPT)
    cancels: list[str] = []

    def get(self: TrainingJobHook, job_id: str, **_: Any) -> dict[str, Any]:
        return dict(next(views))

    def cancel(self: TrainingJobHook, job_id: str, **_: Any) -> dict[str, Any]:
        cancels.append(job_id)
        return {"jobId": job_id, "state": "CANCELLED"}

    monkeypatch.setattr(TrainingJobHook, "_get_job", get)
    monkeypatch.setattr(TrainingJobHook, "get_job", get)
    monkeypatch.setattr(TrainingJobHook, "cancel_job", cancel)
    yield cancels
    assert cancels == [JOB_ID]


LINE = re.compile(rf"((?:Job|Cancelled job) {JOB_ID}\b.*)")
SUFFIX = re.compile(r"\s+\[[\w.]+\](\s+\w+=\S+)*\s*$")  # structlog's "[logger] loc=file:line"


def waiting_lines(out: str) -> list[str]:
    """The waiting lines of a captured log, in order (whatever the logger's own prefix and suffix)."""
    return [SUFFIX.sub("", m.group(1)).strip() for line in out.splitlines() if (m := LINE.search(line))]


def sync_path() -> None:
    with pytest.raises(TrainingJobDeadlineExceeded):
        TrainingJobHook().wait_for_job(JOB_ID, poll_interval=0.01, grace=0, stream_logs=False)


def deferred_path() -> None:
    trigger = TrainingJobTrigger(JOB_ID, poll_interval=0.01, grace=0, stream_logs=False)
    event = asyncio.run(anext(aiter(trigger.run())))
    with pytest.raises(TrainingJobDeadlineExceeded):
        raise_for_event(event.payload)


def poke_path() -> None:
    with DAG("waiting_paths", schedule=None):
        sensor = TrainingJobSensor(task_id="wait", job_id=JOB_ID, deadline_grace=0, poke_interval=0.01)
    with pytest.raises(TrainingJobDeadlineExceeded):
        while not sensor.poke({}):
            pass


EXPECTED = [
    f"Job {JOB_ID} is QUEUED",
    f"Job {JOB_ID}: 0/2 trials done",
    f"Job {JOB_ID} is PREPARING",
    f"Job {JOB_ID} is RUNNING",
    f"Job {JOB_ID}: 1/2 trials done, best accuracy=0.1 (trial 1)",
    f"Cancelled job {JOB_ID}: it passed maxRunningTime",
]


@pytest.mark.parametrize("path", [sync_path, deferred_path, poke_path], ids=["sync", "deferred", "poke"])
def test_every_path_logs_the_same_lines_in_the_same_order(path: Any, scripted: list[str], caplog: Any,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with caplog.at_level("INFO"):
        path()
    out = capsys.readouterr().out + "\n" + "\n".join(r.getMessage() for r in caplog.records)
    lines = list(dict.fromkeys(waiting_lines(out)))  # a record may reach both stdout and caplog
    assert lines == EXPECTED
