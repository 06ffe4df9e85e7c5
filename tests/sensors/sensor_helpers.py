"""Creating jobs "elsewhere" for the sensor tests: staged and submitted through the hooks, not an operator."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any


def submit_elsewhere(storage_endpoint: str, sdist: Path, *, args: list[str], backend: str = "ai-platform",
                     **job_args: Any) -> str:
    """Stage the tiny trainer and create a job through the hook (not an operator); returns its id."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from airflow_provider_trainjobs.hooks.staging import StagingHook
    from airflow_provider_trainjobs.hooks.training import TrainingJobHook
    from airflow_provider_trainjobs.spec import build_training_job

    bucket = f"sensor-{uuid.uuid4().hex[:12]}"
    storage.Client(project="local-project", credentials=AnonymousCredentials(),
                   client_options={"api_endpoint": storage_endpoint}).create_bucket(bucket)
    job_id = f"elsewhere_{uuid.uuid4().hex[:10]}"
    uris = StagingHook().stage_package_uris([str(sdist)], job_id=job_id, staging_bucket=f"gs://{bucket}")
    if backend == "vertex":  # the runtime and Python versions pick Vertex's prebuilt training container
        job_args.update(runtime_version="2.8", python_version="3.7")
    body = build_training_job(job_id, module_name="tiny_trainer.task", package_uris=uris, region="us-central1",
                              user_args=args, **job_args)
    TrainingJobHook().create_job(body)
    return job_id
