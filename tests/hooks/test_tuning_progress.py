"""Tuning progress comes from the one wait loop: the sync wait logs "n/3 trials done, best accuracy=… (trial k)"
while a 3-trial job runs on the local service (the trigger's twin test is in tests/triggers)."""

from __future__ import annotations

import logging

import pytest
from support import unique
from support.tuning import assert_progress_logged, grid_tuning_job

from airflow_provider_trainjobs.hooks.training import TrainingJobHook


def test_sync_wait_logs_trial_progress(backend: str, staged_trainer: str,
                                       caplog: pytest.LogCaptureFixture) -> None:
    hook = TrainingJobHook(retry_delay=0.01, retry_max_delay=0.05)
    job_id = unique("progress_sync")
    hook.create_job(grid_tuning_job(backend, job_id, staged_trainer))
    with caplog.at_level(logging.INFO, logger="progress-tests"):
        hook.wait_for_job(job_id, poll_interval=0.1, stream_logs=False, log=logging.getLogger("progress-tests"))
    assert_progress_logged(caplog.text, job_id)
