"""docs/local-service.md: the bucket step its DAG snippet depends on runs against a fresh service."""

from __future__ import annotations

import re
from pathlib import Path

from support import storage_client

from airflow_provider_trainjobs.local.launcher import serving

DOC = Path(__file__).resolve().parents[2] / "docs" / "local-service.md"


def test_the_documented_bucket_step_creates_what_the_dag_snippet_uses(tmp_path: Path) -> None:
    text = DOC.read_text()
    section = text.split("## Buckets", 1)[1].split("\n## ", 1)[0]
    (snippet,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    dag = text.split("## A DAG against it", 1)[1].split("\n## ", 1)[0]
    used = set(re.findall(r'"gs://([a-z0-9_.-]+)', dag))
    assert used, "the DAG snippet names no bucket"
    with serving(tmp_path / "data") as service:  # a fresh service: no bucket exists yet
        client = storage_client(service.storage_endpoint)
        assert not used & {b.name for b in client.list_buckets()}
        exec(snippet.replace("http://127.0.0.1:8766", service.storage_endpoint), {})  # noqa: S102
        assert used <= {b.name for b in client.list_buckets()}
