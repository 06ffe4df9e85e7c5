"""Talking to a running local service: the real ml v1 / logging / storage clients, staging, fault injection."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from airflow_provider_trainjobs.local.launcher import LOCAL_PROJECT, admin_token_for


def ml_client(api_endpoint: str) -> Any:
    """The discovery-built ml v1 client pointed at a local service (anonymous credentials)."""
    from google.auth.credentials import AnonymousCredentials
    from googleapiclient.discovery import build

    return build("ml", "v1", credentials=AnonymousCredentials(), client_options={"api_endpoint": api_endpoint},
                 static_discovery=True, cache_discovery=False)


def logging_client(api_endpoint: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from googleapiclient.discovery import build

    return build("logging", "v2", credentials=AnonymousCredentials(), client_options={"api_endpoint": api_endpoint},
                 static_discovery=True, cache_discovery=False)


def storage_client(storage_endpoint: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project=LOCAL_PROJECT, credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": storage_endpoint})


def upload(storage_endpoint: str, path: Path, bucket: str = "trainjobs-tests") -> str:
    """Upload ``path`` to the service's storage emulator (bucket created if missing); returns its gs:// URI."""
    client = storage_client(storage_endpoint)
    if client.lookup_bucket(bucket) is None:
        client.create_bucket(bucket)
    name = f"packages/{path.name}"
    client.bucket(bucket).blob(name).upload_from_filename(str(path))
    return f"gs://{bucket}/{name}"


def list_log_entries(logging: Any, job_id: str, **body: Any) -> list[dict[str, Any]]:
    """Every Cloud Logging entry of an ml v1 job, following ``nextPageToken`` (``body`` adds e.g. pageSize)."""
    entries: list[dict[str, Any]] = []
    token = None
    while True:
        request: dict[str, Any] = {"resourceNames": [f"projects/{LOCAL_PROJECT}"],
                                   "filter": f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"', **body}
        if token:
            request["pageToken"] = token
        page = logging.entries().list(body=request).execute()
        entries += page.get("entries", [])
        token = page.get("nextPageToken")
        if not token:
            return entries


def set_faults(api_endpoint: str, **settings: Any) -> dict[str, Any]:
    """Change the service's fault injection through its admin endpoint (with the service's admin token);
    returns the resulting state."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {admin_token_for(api_endpoint)}"}
    request = urllib.request.Request(f"{api_endpoint}/admin/faults", data=json.dumps(settings).encode(),
                                     method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as resp:
        return dict(json.loads(resp.read()))
