"""The process-wide poller: many triggers, one batched refresh per interval, against the real local service."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from googleapiclient.http import MAX_URI_LENGTH
from support import backend_job, tiny_job, unique

from airflow_provider_trainjobs.hooks.logs import LogCursor, batch_log_filter
from airflow_provider_trainjobs.hooks.poller import (
    LIST_FILTER,
    MAX_FILTER,
    REQUESTS,
    JobPoller,
    Watch,
    _Answer,
    _id_filter,
    _split,
)
from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.hooks.waiting import WaitState
from airflow_provider_trainjobs.naming import JOB_ID_MAX_LENGTH
from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger

pytestmark = pytest.mark.timeout(180)


async def run_all(triggers: list[TrainingJobTrigger]) -> list[dict[str, Any]]:
    async def one(trigger: TrainingJobTrigger) -> dict[str, Any]:
        return [e.payload async for e in trigger.run()][0]

    return await asyncio.gather(*(one(t) for t in triggers))


@pytest.mark.asyncio
async def test_many_triggers_share_one_list_per_refresh_and_send_no_get(backend: str, staged_trainer: str) -> None:
    ids = [unique(f"poll_{n}") for n in range(6)]
    hook = TrainingJobHook()
    for n, job_id in enumerate(ids):
        hook.create_job(backend_job(backend, job_id, staged_trainer, lines=1, sleep=0.5 * n))
    triggers = [TrainingJobTrigger(job_id, poll_interval=0.2, stream_logs=False, backend=backend) for job_id in ids]
    before = REQUESTS.copy()
    refreshes: list[int] = []
    real_run = JobPoller._run

    async def counting_run(self: JobPoller) -> None:
        await real_run(self)
        refreshes.append(self.refreshes)

    JobPoller._run = counting_run  # type: ignore[method-assign]
    try:
        events = await run_all(triggers)
        for _ in range(100):  # the poller's loop ends once its last job left
            if refreshes:
                break
            await asyncio.sleep(0.02)
    finally:
        JobPoller._run = real_run  # type: ignore[method-assign]
    assert [e["status"] for e in events] == ["success"] * 6
    sent = REQUESTS - before
    kinds = 2 if backend == "vertex" else 1  # Vertex lists customJobs and hyperparameterTuningJobs
    assert refreshes and sent["jobs.list"] == kinds * sum(refreshes)  # one list per refresh, whatever N
    assert sent["jobs.get"] == 0  # the list answered every job


@pytest.mark.asyncio
async def test_a_job_that_left_costs_nothing_and_an_idle_poller_stops(tiny_package: str, local_conn: Any) -> None:
    job_id = unique("poll_leave")
    TrainingJobHook().create_job(tiny_job(job_id, tiny_package, lines=1))
    (event,) = await run_all([TrainingJobTrigger(job_id, poll_interval=0.1)])
    assert event["status"] == "success"
    before = REQUESTS.copy()
    await asyncio.sleep(0.5)
    assert REQUESTS == before and not [p for p in JobPoller._pollers.values() if p.watches]


@pytest.mark.asyncio
async def test_a_cancelled_trigger_leaves_the_poller(tiny_package: str, local_conn: Any) -> None:
    job_id = unique("poll_cancel")
    hook = TrainingJobHook()
    hook.create_job(tiny_job(job_id, tiny_package, lines=1, sleep=30))
    try:
        task = asyncio.ensure_future(run_all([TrainingJobTrigger(job_id, poll_interval=0.1)]))
        await asyncio.sleep(1.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not [p for p in JobPoller._pollers.values() if p.watches]
        before = REQUESTS.copy()
        await asyncio.sleep(0.5)
        assert REQUESTS == before
    finally:
        hook.cancel_job(job_id)


@pytest.mark.asyncio
async def test_each_jobs_lines_are_printed_once_in_order(tiny_package: str, local_conn: Any,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Three jobs tailed together (the local service reads one job per entries:list, so the poller falls back
    to one read per job after its first 400): every trainer line appears once, in order."""
    ids = [unique(f"poll_logs_{n}") for n in range(3)]
    for job_id in ids:
        TrainingJobHook().create_job(tiny_job(job_id, tiny_package, lines=4, sleep=0.5))
    events = await run_all([TrainingJobTrigger(job_id, poll_interval=0.1) for job_id in ids])
    assert [e["status"] for e in events] == ["success"] * 3
    out = capsys.readouterr().out
    for event in events:
        assert LogCursor.from_dict(event["log_cursor"]).timestamp
    for n in range(1, 5):
        assert out.count(f"tiny line {n} of 4") == 3  # once per job
    lines = [line for line in out.splitlines() if "tiny line" in line]
    assert len(lines) == 12


class FakeLogs:
    """A logging endpoint that answers OR filters (as Cloud Logging does; the local service reads one job)."""

    def __init__(self, entries: dict[str, list[dict[str, Any]]]) -> None:
        self.entries = entries
        self.filters: list[str] = []

    def __call__(self, filter_: str) -> list[dict[str, Any]]:
        self.filters.append(filter_)
        return sorted((e for log_id, rows in self.entries.items() if f'job_id="{log_id}"' in filter_ for e in rows),
                      key=lambda e: e["timestamp"])


def entry(job: str, n: int, second: int) -> dict[str, Any]:
    return {"insertId": f"{job}-{n}", "timestamp": f"2024-05-01T12:00:{second:02d}Z", "textPayload": f"{job} {n}",
            "resource": {"type": "ml_job", "labels": {"job_id": job}}}


@pytest.mark.asyncio
async def test_one_entries_list_per_refresh_hands_each_entry_to_its_job_once(local_conn: Any) -> None:
    poller = await JobPoller.for_job("google_cloud_default", None, None, None)
    fake = FakeLogs({"a": [entry("a", 1, 1), entry("a", 2, 3)], "b": [entry("b", 1, 2)]})
    poller._entries = fake  # type: ignore[method-assign]
    watches = [Watch(job_id, WaitState(), 10.0) for job_id in ("a", "b", "c")]
    answer = _Answer(jobs={w.job_id: {"jobId": w.job_id, "state": "RUNNING"} for w in watches})
    for _ in range(2):
        answer.logs.clear()
        poller._read_logs(watches, answer)
        for watch in watches:
            watch.caught_up = True
    assert len(fake.filters) == 2  # one read per refresh for the three jobs
    assert fake.filters[1] == ('resource.type="ml_job" AND (resource.labels.job_id="a" OR resource.labels.job_id="b"'
                               ' OR resource.labels.job_id="c") AND timestamp>="2024-05-01T12:00:01.000000000Z"')
    printed = {w.job_id: [e["insertId"] for e in w.state.cursor.advance(answer.logs.get(w.job_id, []))]
               for w in watches}
    assert printed == {"a": ["a-1", "a-2"], "b": ["b-1"], "c": []}
    again = {w.job_id: w.state.cursor.advance(answer.logs.get(w.job_id, [])) for w in watches}
    assert again == {"a": [], "b": [], "c": []}  # each entry once


def test_a_job_catching_up_reads_from_its_own_floor_beside_the_shared_one() -> None:
    text = batch_log_filter(["a", "b"], "2024-05-01T12:00:00Z", {"new": None, "resumed": "2024-05-01T11:00:00Z"})
    assert text == ('resource.type="ml_job" AND (((resource.labels.job_id="a" OR resource.labels.job_id="b") AND '
                    'timestamp>="2024-05-01T12:00:00Z") OR (resource.labels.job_id="new") OR '
                    '(resource.labels.job_id="resumed" AND timestamp>="2024-05-01T11:00:00Z"))')
    assert batch_log_filter(["a"], None, {}) == 'resource.type="ml_job" AND resource.labels.job_id="a"'


@pytest.mark.parametrize("n", [1, 100, 1000])
def test_filters_stay_under_the_length_limit_in_as_few_reads_as_fit(n: int) -> None:
    ids = [f"census_train_{i:06d}_{'x' * 20}" for i in range(n)]
    groups = _split(ids, "2024-05-01T12:00:00.000000000Z", {})
    assert all(len(batch_log_filter(g, "2024-05-01T12:00:00.000000000Z", o)) <= MAX_FILTER for g, o in groups)
    assert sum(len(g) for g, _ in groups) == n
    per_id = len(' OR resource.labels.job_id=""') + len(ids[0])
    assert len(groups) == max(1, -(-n * per_id // MAX_FILTER))


@pytest.mark.asyncio
async def test_a_hundred_jobs_of_the_longest_ids_are_one_list_call_per_refresh(backend: str) -> None:
    """100 ids of 128 characters make a filter of 14,000: googleapiclient POSTs it with X-HTTP-Method-Override
    (its URL is far past 2 KB), the service reads it, and the refresh is one list call (one per Vertex kind)."""
    from airflow_provider_trainjobs.hooks.executor import in_executor

    hook = TrainingJobHook()
    stem = unique("poll_hundred")
    ids = [f"{stem}_{n:03d}_".ljust(JOB_ID_MAX_LENGTH, "x") for n in range(100)]
    for job_id in ids:
        hook.create_job(backend_job(backend, job_id, "gs://no-such-bucket/none.tar.gz"))
    poller = await JobPoller.for_job("google_cloud_default", None, None, None)
    assert 2 * MAX_URI_LENGTH < len(_id_filter(ids)) <= LIST_FILTER
    for refresh in (1, 2):
        answer = await in_executor(poller._refresh, [Watch(i, WaitState(stream_logs=False), 10.0) for i in ids])
        assert sorted(j for j, view in answer.jobs.items() if isinstance(view, dict)) == sorted(ids)
        kinds = 2 if backend == "vertex" else 1  # Vertex lists customJobs and hyperparameterTuningJobs
        assert poller.requests["jobs.list"] == kinds * refresh and poller.requests["jobs.get"] == 0
    assert poller.list_filter == LIST_FILTER


@pytest.mark.asyncio
async def test_a_service_that_refuses_a_long_list_filter_gets_short_ones_not_gets(
        local_conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither API documents a filter limit: a service that refuses the long filter (a 400, which the local
    service never answers below its 20,000 characters, so it is simulated here) is listed in short filters
    from then on, and still sends no GET."""
    from airflow_provider_trainjobs.hooks.errors import TrainingJobApiError
    from airflow_provider_trainjobs.hooks.executor import in_executor
    from airflow_provider_trainjobs.hooks.poller import SHORT_LIST_FILTER

    hook = TrainingJobHook()
    ids = [unique(f"poll_a_rather_long_job_id_number_{n:03d}") for n in range(40)]
    for job_id in ids:
        hook.create_job({"jobId": job_id, "trainingInput": {
            "scaleTier": "BASIC", "region": "us-central1", "pythonModule": "none.task",
            "packageUris": ["gs://no-such-bucket/none.tar.gz"]}})
    poller = await JobPoller.for_job("google_cloud_default", None, None, None)
    real_list, refused = poller.hook.list_jobs, []

    def short_filters_only(filter: str | None = None, page_size: int = 100) -> list[dict[str, Any]]:  # noqa: A002
        if filter and len(filter) > SHORT_LIST_FILTER:
            refused.append(len(filter))
            raise TrainingJobApiError("listing jobs: the filter is too long", status=400)
        return real_list(filter, page_size)

    monkeypatch.setattr(poller.hook, "list_jobs", short_filters_only)
    answer = await in_executor(poller._refresh, [Watch(i, WaitState(stream_logs=False), 10.0) for i in ids])
    assert sorted(j for j, view in answer.jobs.items() if isinstance(view, dict)) == sorted(ids)
    assert poller.requests["jobs.get"] == 0 and poller.list_filter == SHORT_LIST_FILTER and len(refused) == 1
    answer = await in_executor(poller._refresh, [Watch(i, WaitState(stream_logs=False), 10.0) for i in ids])
    assert all(isinstance(view, dict) for view in answer.jobs.values()) and poller.requests["jobs.get"] == 0
    assert len(refused) == 1


@pytest.mark.asyncio
async def test_triggers_with_different_impersonation_chains_do_not_share_a_poller(local_conn: Any) -> None:
    plain = await JobPoller.for_job("google_cloud_default", None, None, None)
    chained = await JobPoller.for_job("google_cloud_default", None, None, None, "sa@local-project.iam.gserviceaccount.com")
    assert plain is not chained and plain is await JobPoller.for_job("google_cloud_default", None, None, None)
    assert chained.hook.settings.impersonation_chain == ("sa@local-project.iam.gserviceaccount.com",)
