"""Creating jobs "elsewhere" for the sensor tests: staged and submitted through the hooks, not an operator."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from support import TRAINER_MODULE, runtime_for, storage_client


def submit_elsewhere(storage_endpoint: str, sdist: Path, *, args: list[str], backend: str = "ai-platform",
                     **job_args: Any) -> str:
    """Stage the trainer and create a job through the hook (not an operator); returns its id."""
    from airflow_provider_trainjobs.hooks.staging import StagingHook
    from airflow_provider_trainjobs.hooks.training import TrainingJobHook
    from airflow_provider_trainjobs.spec import build_training_job

    bucket = f"sensor-{uuid.uuid4().hex[:12]}"
    storage_client(storage_endpoint).create_bucket(bucket)
    job_id = f"elsewhere_{uuid.uuid4().hex[:10]}"
    uris = StagingHook().stage_package_uris([str(sdist)], job_id=job_id, staging_bucket=f"gs://{bucket}")
    body = build_training_job(job_id, module_name=TRAINER_MODULE, package_uris=uris, region="us-central1",
                              user_args=args, **runtime_for(backend), **job_args)
    TrainingJobHook().create_job(body)
    return job_id
