"""Discovery clients are built once per process, whatever the number of hooks and threads using them, and
each request goes through an http object that no other thread holds at the same time."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from support import tiny_job, unique

from airflow_provider_trainjobs.hooks import clients
from airflow_provider_trainjobs.hooks.clients import HttpPool
from airflow_provider_trainjobs.hooks.logs import LogCursor
from airflow_provider_trainjobs.hooks.training import TrainingJobHook

HOOKS = 20
THREADS = 8


def test_many_hooks_in_many_threads_build_each_client_once(tiny_package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients, "_services", {})
    monkeypatch.setattr(clients, "builds", 0)
    job_id = unique("clients_once")
    TrainingJobHook().create_job(tiny_job(job_id, tiny_package, lines=1))
    hooks = [TrainingJobHook() for _ in range(HOOKS)]

    def poll(hook: TrainingJobHook) -> str:
        hook.fetch_logs(job_id, LogCursor())
        return str(hook.get_job(job_id)["jobId"])

    with ThreadPoolExecutor(THREADS) as pool:
        seen = list(pool.map(poll, [hook for hook in hooks for _ in range(THREADS)]))
    assert seen == [job_id] * HOOKS * THREADS
    assert clients.builds == 2  # ml v1 and logging, at the local service's one endpoint
    for hook in hooks:  # one http object per request in flight at once, never one per thread per api
        assert sum(p.created for p in hook._pools.values()) <= 2 * THREADS


def test_an_http_object_serves_one_request_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    from google.auth.credentials import AnonymousCredentials

    busy: set[int] = set()
    overlaps: list[int] = []
    lock = threading.Lock()
    gate = threading.Barrier(4)

    class FakeHttp:
        def request(self, *args: Any, **kwargs: Any) -> Any:
            with lock:
                if id(self) in busy:
                    overlaps.append(id(self))
                busy.add(id(self))
            try:
                gate.wait(timeout=5)
            finally:
                with lock:
                    busy.discard(id(self))
            return "answer"

    monkeypatch.setattr(clients, "new_http", lambda credentials, timeout: FakeHttp())
    pool = HttpPool(AnonymousCredentials(), 1.0)  # type: ignore[no-untyped-call]
    with ThreadPoolExecutor(4) as executor:
        answers = list(executor.map(lambda _: pool.request("http://x/"), range(8)))
    assert answers == ["answer"] * 8 and overlaps == []
    assert pool.created == 4  # the second round reused the first round's objects


def test_the_shared_client_refuses_a_request_without_a_hooks_http() -> None:
    with pytest.raises(RuntimeError, match="without a hook's http"):
        clients.service("ml", "v1", "http://127.0.0.1:9").projects().jobs().get(name="projects/p/jobs/j").execute()
