"""The poller's entries:list budget: at most MAX_LOG_FILTERS filters a refresh, whatever the number of jobs.

Past it one filter reads the project's ml_job log from the earliest floor and only the poller's own jobs'
entries are kept. Reproduced first at N = 1,000 waiting jobs (3 filters a refresh, 18 a minute against the
goal of 12); here MAX_FILTER is made small so a handful of jobs need more filters than the budget.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support import tiny_job, unique

import airflow_provider_trainjobs.hooks.poller as poller_module
from airflow_provider_trainjobs.hooks.logs import project_log_filter
from airflow_provider_trainjobs.hooks.poller import (
    MAX_LOG_FILTERS,
    REQUESTS,
    JobPoller,
    Watch,
    _Answer,
    _log_start,
    _split,
)
from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.hooks.waiting import WaitState
from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger

pytestmark = pytest.mark.timeout(180)
CREATED = "2024-05-01T11:59:00Z"


def entry(job: str, n: int, second: int) -> dict[str, Any]:
    return {"insertId": f"{job}-{n}", "timestamp": f"2024-05-01T12:00:{second:02d}Z", "textPayload": f"{job} {n}",
            "resource": {"type": "ml_job", "labels": {"job_id": job}}}


class ProjectLogs:
    """A logging endpoint holding several jobs' entries; answers id filters and the project-wide form."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        self.entries = entries
        self.filters: list[str] = []

    def __call__(self, filter_: str) -> list[dict[str, Any]]:
        self.filters.append(filter_)
        wide = "resource.labels.job_id" not in filter_
        since = filter_.split('timestamp>="')[1].split('"')[0] if wide else ""
        return [e for e in self.entries
                if (wide and e["timestamp"] >= since) or f'job_id="{e["resource"]["labels"]["job_id"]}"' in filter_]


async def fake_poller(monkeypatch: pytest.MonkeyPatch, logs: ProjectLogs) -> JobPoller:
    poller = await JobPoller.for_job("google_cloud_default", None, None, None)
    monkeypatch.setattr(poller, "_entries", logs)
    return poller


@pytest.mark.asyncio
async def test_more_ids_than_the_budget_holds_are_one_project_wide_read_keeping_only_its_jobs(
        local_conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(poller_module, "MAX_FILTER", 160)  # about two ids a filter
    ids = [f"job_{n}" for n in range(8)]
    logs = ProjectLogs([entry(i, n, 2 * k + n) for k, i in enumerate(ids) for n in (1, 2)]
                       + [entry("someone_else", 1, 5)])
    poller = await fake_poller(monkeypatch, logs)
    watches = [Watch(i, WaitState(), 10.0) for i in ids]
    answer = _Answer(jobs={i: {"jobId": i, "state": "RUNNING", "createTime": CREATED} for i in ids})

    poller._read_logs(watches, answer)  # all catching up from the start: read from the earliest creation
    assert logs.filters == [project_log_filter(_log_start({"createTime": CREATED}, watches[0].state.cursor.window)
                                               or "")]
    assert logs.filters[0] < f'resource.type="ml_job" AND timestamp>="{CREATED}"'  # a window before it
    assert sorted(answer.logs) == ids  # the other job's entry is not handed to anyone
    printed = {w.job_id: [e["insertId"] for e in w.state.cursor.advance(answer.logs[w.job_id])] for w in watches}
    assert printed == {i: [f"{i}-1", f"{i}-2"] for i in ids}

    for watch in watches:
        watch.caught_up = True
    answer.logs.clear()
    poller._read_logs(watches, answer)  # caught up: from the shared floor, still one read
    assert len(logs.filters) == 2 and logs.filters[1] == project_log_filter(poller.log_floor or "")
    again = {w.job_id: w.state.cursor.advance(answer.logs.get(w.job_id, [])) for w in watches}
    assert again == {i: [] for i in ids}  # nothing twice


@pytest.mark.asyncio
async def test_within_the_budget_the_ids_are_named(local_conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(poller_module, "MAX_FILTER", 160)
    ids = [f"job_{n}" for n in range(1, 20)]
    while len(_split([], None, dict.fromkeys(ids))) > MAX_LOG_FILTERS:  # as many as MAX_LOG_FILTERS filters hold
        ids.pop()
    logs = ProjectLogs([entry(i, 1, k) for k, i in enumerate(ids)])
    poller = await fake_poller(monkeypatch, logs)
    watches = [Watch(i, WaitState(), 10.0) for i in ids]
    poller._read_logs(watches, _Answer(jobs={i: {"jobId": i, "createTime": CREATED} for i in ids}))
    assert len(logs.filters) == MAX_LOG_FILTERS and all("resource.labels.job_id" in f for f in logs.filters)


@pytest.mark.asyncio
@pytest.mark.parametrize("create_time", [None, "", "yesterday", 12])
async def test_a_job_with_no_floor_and_no_usable_create_time_is_never_read_from_the_start_of_the_project_log(
        local_conn: Any, monkeypatch: pytest.MonkeyPatch, create_time: Any) -> None:
    monkeypatch.setattr(poller_module, "MAX_FILTER", 160)
    ids = [f"job_{n}" for n in range(8)]
    logs = ProjectLogs([])
    poller = await fake_poller(monkeypatch, logs)
    answer = _Answer(jobs={i: {"jobId": i, "createTime": create_time if i == "job_3" else CREATED} for i in ids})
    poller._read_logs([Watch(i, WaitState(), 10.0) for i in ids], answer)
    assert len(logs.filters) > MAX_LOG_FILTERS and all("resource.labels.job_id" in f for f in logs.filters)


@pytest.mark.asyncio
async def test_caught_up_jobs_that_logged_nothing_yet_are_read_from_their_creation(
        local_conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs still queued log nothing, so no shared floor exists yet: the project read starts at creation."""
    monkeypatch.setattr(poller_module, "MAX_FILTER", 160)
    ids = [f"job_{n}" for n in range(8)]
    logs = ProjectLogs([])
    poller = await fake_poller(monkeypatch, logs)
    watches = [Watch(i, WaitState(), 10.0) for i in ids]
    for watch in watches:
        watch.caught_up = True
    poller._read_logs(watches, _Answer(jobs={i: {"jobId": i, "createTime": CREATED} for i in ids}))
    assert len(logs.filters) == 1 and "resource.labels.job_id" not in logs.filters[0]


@pytest.mark.asyncio
async def test_many_tailed_jobs_on_the_real_service_print_every_line_once_within_the_budget(
        tiny_package: str, local_conn: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(poller_module, "MAX_FILTER", 220)  # 6 ids need 3+ filters: over the budget
    hook = TrainingJobHook()
    ids = [unique(f"budget_{n}") for n in range(6)]
    bystander = unique("budget_other")  # logs in the same project, waited on by nobody
    for job_id in [*ids, bystander]:
        hook.create_job(tiny_job(job_id, tiny_package, lines=3, sleep=0.3))
    refreshes: list[int] = []
    real_run = JobPoller._run

    async def counting_run(self: JobPoller) -> None:
        await real_run(self)
        refreshes.append(self.refreshes)

    monkeypatch.setattr(JobPoller, "_run", counting_run)
    before = REQUESTS.copy()
    triggers = [TrainingJobTrigger(job_id, poll_interval=0.2) for job_id in ids]

    async def one(trigger: TrainingJobTrigger) -> dict[str, Any]:
        return [e.payload async for e in trigger.run()][0]

    events = await asyncio.gather(*(one(t) for t in triggers))
    for _ in range(100):
        if refreshes:
            break
        await asyncio.sleep(0.02)

    assert [e["status"] for e in events] == ["success"] * len(ids)
    out = capsys.readouterr().out
    for n in range(1, 4):
        assert out.count(f"tiny line {n} of 3") == len(ids)  # once per waited job, never the bystander's
    sent = REQUESTS - before
    assert refreshes and sent["entries.list"] <= MAX_LOG_FILTERS * sum(refreshes)
