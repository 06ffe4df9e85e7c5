"""A 3-trial grid tuning job of the test trainer, and the progress lines a waiter logs for it."""

from __future__ import annotations

from typing import Any

from support.jobs import backend_job

GRID = {
    "goal": "MAXIMIZE",
    "hyperparameterMetricTag": "accuracy",
    "algorithm": "GRID_SEARCH",
    "maxTrials": 3,
    "maxParallelTrials": 1,
    "params": [{"parameterName": "x", "type": "DISCRETE", "discreteValues": [0.1, 0.3, 0.5]}],
}


def grid_tuning_job(backend: str, job_id: str, package: str) -> dict[str, Any]:
    """Three trials (x = 0.1, 0.3, 0.5) of the tiny trainer; trial 2 (x=0.3) scores accuracy 1."""
    job = backend_job(backend, job_id, package, lines=0, sleep=0.3)
    job["trainingInput"]["hyperparameters"] = GRID
    return job


def assert_progress_logged(text: str, job_id: str) -> None:
    """``text`` (a captured log) holds the job's progress lines: each once, counting up to 3/3 with trial 2 best."""
    marker = f"Job {job_id}: "
    lines = [line.split(marker, 1)[1].split(" [", 1)[0].strip() for line in text.splitlines() if marker in line]
    assert lines, f"no progress line was logged for {job_id}"
    assert len(lines) == len(set(lines)), f"a progress line repeated: {lines}"
    assert lines[-1] == "3/3 trials done, best accuracy=1 (trial 2)"
    done = [int(line.split("/", 1)[0]) for line in lines]
    assert done == sorted(done)
