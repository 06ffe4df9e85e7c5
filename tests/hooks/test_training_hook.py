"""TrainingJobHook against the real local service over HTTP (ml v1 backend) with the real discovery client."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from support import tiny_job, unique, wait_for_state

from airflow_provider_trainjobs.hooks.errors import (
    JobSpecConflict,
    TrainingJobApiError,
    TrainingJobDeadlineExceeded,
    TrainingJobFailed,
)
from airflow_provider_trainjobs.hooks.logs import LogCursor
from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.hooks.waiting import WaitState

LOG = logging.getLogger("hook-tests")


def make_hook(**kwargs: Any) -> TrainingJobHook:
    return TrainingJobHook(retry_delay=0.01, retry_max_delay=0.05, **kwargs)


def test_create_get_and_wait_for_success(tiny_package: str, caplog: pytest.LogCaptureFixture) -> None:
    hook = make_hook()
    job_id = unique("hook_ok")
    created = hook.create_job(tiny_job(job_id, tiny_package, lines=3))
    assert created["jobId"] == job_id and created["state"] in ("QUEUED", "PREPARING", "RUNNING", "SUCCEEDED")
    progress: list[str] = []
    with caplog.at_level(logging.INFO):
        final = hook.wait_for_job(job_id, poll_interval=0.1, log=LOG,
                                  on_progress=lambda job: progress.append(job["state"]))
    assert final["state"] == "SUCCEEDED"
    assert hook.get_job(job_id)["state"] == "SUCCEEDED"
    assert progress and progress[-1] == "SUCCEEDED"
    messages = [r.getMessage() for r in caplog.records]
    # each transition once, each trainer line once
    assert messages.count(f"Job {job_id} is SUCCEEDED") == 1
    assert sum("SUCCEEDED" in m for m in messages) == 1  # said once, not again by a closing line
    for n in (1, 2, 3):
        assert sum(m.endswith(f"tiny line {n} of 3") and m.startswith("[master-replica-0]") for m in messages) == 1
    last_line = max(i for i, m in enumerate(messages) if m.endswith("tiny line 3 of 3"))
    assert messages.index(f"Job {job_id} is SUCCEEDED") > last_line  # the outcome after the trainer's output


def test_running_is_logged_after_the_service_lines_that_led_to_it(tiny_package: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """The first poll already sees RUNNING and brings the service's provisioning lines with it: they are
    printed first, then the transition, so the task log reads in the order things happened."""
    hook = make_hook()
    job_id = unique("hook_order")
    hook.create_job(tiny_job(job_id, tiny_package, lines=1, sleep=2))
    wait_for_state(hook, job_id, {"RUNNING", "SUCCEEDED"})
    with caplog.at_level(logging.INFO):
        hook.wait_for_job(job_id, poll_interval=0.1, log=LOG)
    messages = [r.getMessage() for r in caplog.records if r.name == LOG.name]
    provisioned = messages.index(next(m for m in messages if m.endswith("Waiting for job to be provisioned.")))
    running = [i for i, m in enumerate(messages) if m.startswith(f"Job {job_id} is ")]
    assert running and running[0] > provisioned
    assert messages[running[0]] in (f"Job {job_id} is RUNNING", f"Job {job_id} is SUCCEEDED")


def test_failed_job_raises_with_the_error_message(tiny_package: str) -> None:
    hook = make_hook()
    job_id = unique("hook_fail")
    hook.create_job(tiny_job(job_id, tiny_package, exit_code=3))
    with pytest.raises(TrainingJobFailed) as info:
        hook.wait_for_job(job_id, poll_interval=0.1)
    assert not isinstance(info.value, TrainingJobDeadlineExceeded)
    assert info.value.job["state"] == "FAILED"
    assert info.value.job["errorMessage"] in str(info.value)
    assert "FAILED" in str(info.value)


def test_cancel_then_wait_raises_cancelled(tiny_package: str) -> None:
    hook = make_hook()
    job_id = unique("hook_cancel")
    hook.create_job(tiny_job(job_id, tiny_package, sleep=60))
    after = hook.cancel_job(job_id)
    assert after["state"] in ("CANCELLING", "CANCELLED")
    with pytest.raises(TrainingJobFailed, match="CANCELLED"):
        hook.wait_for_job(job_id, poll_interval=0.1)
    # cancelling a finished job is not an error unless asked
    assert hook.cancel_job(job_id)["state"] == "CANCELLED"
    with pytest.raises(TrainingJobApiError) as info:
        hook.cancel_job(job_id, ignore_finished=False)
    assert info.value.status == 400


def test_get_unknown_job_surfaces_googles_404(local_conn: Any) -> None:
    with pytest.raises(TrainingJobApiError) as info:
        make_hook().get_job("no_such_job_anywhere")
    assert info.value.status == 404 and not info.value.transient
    assert "no_such_job_anywhere" in str(info.value)


def test_list_jobs_filters_and_follows_pages(tiny_package: str) -> None:
    hook = make_hook()
    prefix = unique("hook_list")
    ids = [f"{prefix}_{n}" for n in range(3)]
    for job_id in ids:
        hook.create_job(tiny_job(job_id, tiny_package, lines=0))
    listed = hook.list_jobs(filter=f"jobId:{prefix}*", page_size=2)
    assert sorted(job["jobId"] for job in listed) == ids
    with pytest.raises(ValueError, match="page_size"):
        hook.list_jobs(page_size=101)


def test_create_same_spec_attaches_and_the_service_holds_one_job(tiny_package: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    hook = make_hook()
    job_id = unique("hook_attach")
    first = hook.create_job(tiny_job(job_id, tiny_package, lines=0))
    capsys.readouterr()
    again = make_hook().create_job(tiny_job(job_id, tiny_package, lines=0))
    assert again["jobId"] == job_id and again["createTime"] == first["createTime"]
    assert f"Job {job_id} already exists with the same spec: attached to it" in capsys.readouterr().out
    assert [j["jobId"] for j in hook.list_jobs(filter=f"jobId:{job_id}*")] == [job_id]


def test_create_different_spec_names_the_fields(tiny_package: str) -> None:
    hook = make_hook()
    job_id = unique("hook_conflict")
    hook.create_job(tiny_job(job_id, tiny_package, lines=0))
    with pytest.raises(JobSpecConflict) as info:
        hook.create_job(tiny_job(job_id, tiny_package, lines=5))
    assert info.value.fields == ["trainingInput.args"]
    assert "trainingInput.args" in str(info.value) and job_id in str(info.value)


def test_suffix_policy_creates_the_first_free_id_and_reattaches(tiny_package: str) -> None:
    hook = make_hook()
    job_id = unique("hook_suffix")
    hook.create_job(tiny_job(job_id, tiny_package, lines=0))
    hook.create_job({**tiny_job(f"{job_id}_1", tiny_package, lines=1)})
    third = hook.create_job(tiny_job(job_id, tiny_package, lines=2), on_conflict="suffix")
    assert third["jobId"] == f"{job_id}_2"
    # the same call again (a task retry) attaches to the suffixed job instead of making _3
    assert hook.create_job(tiny_job(job_id, tiny_package, lines=2), on_conflict="suffix")["jobId"] == f"{job_id}_2"
    assert len(hook.list_jobs(filter=f"jobId:{job_id}*")) == 3


def test_fail_policy_refuses_an_existing_id(tiny_package: str) -> None:
    hook = make_hook()
    job_id = unique("hook_failpolicy")
    hook.create_job(tiny_job(job_id, tiny_package, lines=0))
    with pytest.raises(TrainingJobApiError, match="already exists"):
        hook.create_job(tiny_job(job_id, tiny_package, lines=0), on_conflict="fail")
    with pytest.raises(ValueError, match="on_conflict"):
        hook.create_job(tiny_job(job_id, tiny_package), on_conflict="replace")


def test_deadline_cancels_the_job_and_names_max_running_time(lenient_conn: tuple[Any, str]) -> None:
    _, tiny_package = lenient_conn
    hook = make_hook()
    job_id = unique("hook_deadline")
    job = tiny_job(job_id, tiny_package, sleep=60, scheduling={"maxRunningTime": "1s"})
    hook.create_job(job)
    with pytest.raises(TrainingJobDeadlineExceeded) as info:
        hook.wait_for_job(job_id, poll_interval=0.1, grace=0)
    assert info.value.limit == "maxRunningTime"
    assert "maxRunningTime" in str(info.value) and "cancelled" in str(info.value)
    assert hook.get_job(job_id)["state"] in ("CANCELLING", "CANCELLED")


def test_logs_reach_the_caller_once_across_waits(tiny_package: str) -> None:
    hook = make_hook()
    job_id = unique("hook_logs")
    hook.create_job(tiny_job(job_id, tiny_package, lines=4))
    state = WaitState()
    hook.wait_for_job(job_id, poll_interval=0.1, wait_state=state)
    assert state.cursor.timestamp is not None
    # a later waiter that carries the cursor (the trigger hand-off) prints nothing again
    cursor = LogCursor.from_dict(state.cursor.to_dict())
    assert hook.fetch_logs(job_id, cursor) == []
    everything = hook.fetch_logs(job_id, LogCursor())
    assert [line for line in everything if "tiny line" in line] == [
        f"[master-replica-0] tiny line {n} of 4" for n in range(1, 5)]


def test_a_job_the_service_cancels_for_max_running_time_is_a_deadline(tiny_package: str) -> None:
    """The service enforces maxRunningTime itself (the waiter's grace is long): the sync wait reports the
    same TrainingJobDeadlineExceeded(limit=...) a deferred wait does, and cancels nothing."""
    hook = make_hook()
    job_id = unique("hook_svc_deadline")
    hook.create_job(tiny_job(job_id, tiny_package, sleep=60, scheduling={"maxRunningTime": "1s"}))
    with pytest.raises(TrainingJobDeadlineExceeded) as info:
        hook.wait_for_job(job_id, poll_interval=0.1, grace=3600)
    assert info.value.limit == "maxRunningTime" and info.value.job["state"] == "CANCELLED"
    assert "service cancelled it" in str(info.value) and info.value.job["errorMessage"] in str(info.value)


def test_two_replicas_logs_are_printed_once_while_the_window_is_re_read(tiny_package: str) -> None:
    """A master and a worker write at the same time; every poll re-reads the last seconds (the window that
    catches late entries) and still each line is printed once."""
    hook = make_hook()
    job_id = unique("hook_logs_two")
    hook.create_job(tiny_job(job_id, tiny_package, lines=6, sleep=0.5, scaleTier="CUSTOM",
                             masterType="n1-standard-4", workerType="n1-standard-4", workerCount="1"))
    cursor = LogCursor(window=30.0)  # longer than the job: every poll overlaps all earlier ones
    lines: list[str] = []
    while True:
        state = hook.get_job(job_id)["state"]
        lines += hook.fetch_logs(job_id, cursor)
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
    lines += hook.fetch_logs(job_id, cursor)
    assert state == "SUCCEEDED"
    for replica in ("master-replica-0", "worker-replica-0"):
        mine = [line for line in lines if line.startswith(f"[{replica}] tiny line")]
        assert mine == [f"[{replica}] tiny line {n} of 6" for n in range(1, 7)], lines
    assert len(lines) == len(hook.fetch_logs(job_id, LogCursor()))  # every entry of the job, each once


def test_fresh_copy_reuses_the_settings_with_clients_of_its_own(tiny_package: str) -> None:
    hook = make_hook(max_retries=3)
    job_id = unique("hook_copy")
    hook.create_job(tiny_job(job_id, tiny_package, lines=0))
    copy = hook.fresh_copy()
    assert copy.settings is hook.settings and copy.retry_policy == hook.retry_policy
    assert copy._client("training") is not hook._client("training")
    assert copy.get_job(job_id)["jobId"] == job_id
