"""Many creates through a lossy proxy and the service's own error injection, then a count of the jobs made.

Shared by tests/hooks/test_create_once.py (a few creates) and bench/bench_create.py (100 per backend).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError
from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from support.jobs import backend_job
from support.lossy_proxy import LossyProxy, lossy_proxy
from support.service import set_faults

CONN_ENV = "AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"


@contextmanager
def through_proxy(service: Any, backend: str, **proxy_args: Any) -> Iterator[LossyProxy]:
    """Point the default connection at a lossy proxy in front of ``service`` while the block runs."""
    saved = os.environ.get(CONN_ENV)
    with lossy_proxy(service.api_endpoint, **proxy_args) as proxy:
        extras = {**service.conn_extras(backend), "api_endpoint": proxy.endpoint, "logging_endpoint": proxy.endpoint}
        os.environ[CONN_ENV] = json.dumps({"conn_type": "trainjobs", "extra": extras})
        try:
            yield proxy
        finally:
            if saved is None:
                os.environ.pop(CONN_ENV, None)
            else:
                os.environ[CONN_ENV] = saved


def create_many(service: Any, backend: str, package_uri: str, prefix: str, count: int, *, lose_rate: float = 0.1,
                error_rate: float = 0.2, seed: int = 1) -> dict[str, int]:
    """``count`` creates (one fresh hook each, as separate tasks would) with ``lose_rate`` of the create answers
    lost after the service processed them and ``error_rate`` of all API requests answered 429/500/503.

    Returns ``jobs`` (distinct job ids on the service), ``twins`` (jobs beyond one per id), ``failed`` (creates
    whose retries ran out), ``posts`` (create POSTs the service received) and ``lost`` (answers lost).
    """
    failed = 0
    with through_proxy(service, backend, lose_rate=lose_rate, seed=seed) as proxy:
        set_faults(service.api_endpoint, error_rate=error_rate, codes=[429, 500, 503], seed=seed)
        try:
            for n in range(count):
                hook = TrainingJobHook(max_retries=8, retry_delay=0.01, retry_max_delay=0.05)
                try:
                    hook.create_job(backend_job(backend, f"{prefix}_{n}", package_uri, lines=0))
                except TrainingJobApiError:
                    failed += 1
        finally:
            set_faults(service.api_endpoint, error_rate=0.0)
        ids = Counter(job["jobId"] for job in TrainingJobHook().list_jobs(filter=f"jobId:{prefix}_*"))
        return {"jobs": len(ids), "twins": sum(ids.values()) - len(ids), "failed": failed,
                "posts": proxy.creates, "lost": proxy.lost}
