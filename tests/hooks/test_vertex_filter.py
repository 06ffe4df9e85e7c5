"""The ml v1 list filter translated to Vertex AI's (pure), and list_jobs with it on both backends against the
local service's ml v1 and aiplatform v1 routes."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from support import backend_job, unique

from airflow_provider_trainjobs.hooks.training import TrainingJobHook
from airflow_provider_trainjobs.hooks.vertex_filter import to_vertex_filter


@pytest.mark.parametrize(
    ("ml", "vertex"),
    [("jobId:census*", 'display_name:"census*"'),
     ("jobId=census_1", 'display_name="census_1"'),
     ("state:PREPARING", "state=JOB_STATE_PENDING"),
     ("state=SUCCEEDED", "state=JOB_STATE_SUCCEEDED"),
     ("jobId:rnn* AND state:FAILED",
      'display_name:"rnn*" AND (state=JOB_STATE_FAILED OR state=JOB_STATE_EXPIRED OR '
      "state=JOB_STATE_PARTIALLY_SUCCEEDED)"),
     ("labels.team=ml OR NOT (labels.env:dev)", 'labels.team="ml" OR NOT ( labels.env="dev" )'),
     ('createTime>"2024-05-01T00:00:00Z"', 'create_time>"2024-05-01T00:00:00Z"'),
     ("state!=RUNNING", "state!=JOB_STATE_RUNNING"),
     ("labels.team:* AND NOT labels.env:*", "labels.team:* AND NOT labels.env:*"),
     ('labels.team:"*"', "labels.team:*"),
     ('display_name="x" AND state=JOB_STATE_QUEUED', 'display_name="x" AND state=JOB_STATE_QUEUED')],
)
def test_ml_filters_become_vertex_filters(ml: str, vertex: str) -> None:
    assert to_vertex_filter(ml) == vertex


@pytest.mark.parametrize(
    ("ml", "rule"),
    [("trainingInput.region=us-central1", "no Vertex AI equivalent"), ("state:DONE", "names no job state"),
     ("jobId>3", "can only use"), ("labels.team:ml*", "matches a label by prefix"), ("(jobId:x", "unbalanced parentheses"), ("jobId:x &&", "cannot read")],
)
def test_untranslatable_filters_name_the_filter_and_the_term(ml: str, rule: str) -> None:
    with pytest.raises(ValueError, match=rule) as info:
        to_vertex_filter(ml)
    assert repr(ml) in str(info.value)


def test_list_jobs_reads_the_ml_syntax_on_both_backends(backend: str, staged_trainer: str) -> None:
    hook = TrainingJobHook(retry_delay=0.01, retry_max_delay=0.05)
    prefix = unique("flt")
    ok, bad = f"{prefix}_ok", f"{prefix}_bad"
    hook.create_job(backend_job(backend, ok, staged_trainer, lines=0))
    hook.create_job(backend_job(backend, bad, staged_trainer, exit_code=2))
    hook.wait_for_job(ok, poll_interval=0.1)
    with pytest.raises(Exception, match="FAILED"):
        hook.wait_for_job(bad, poll_interval=0.1)
    assert sorted(j["jobId"] for j in hook.list_jobs(filter=f"jobId:{prefix}*")) == [bad, ok]
    assert [j["jobId"] for j in hook.list_jobs(filter=f"jobId:{prefix}* AND state=FAILED")] == [bad]
    assert [j["jobId"] for j in hook.list_jobs(filter=f"jobId:{prefix}* AND state:SUCCEEDED")] == [ok]
    assert sorted(j["jobId"] for j in hook.list_jobs(
        filter=f"jobId:{prefix}* AND labels.owner=hook-tests", page_size=1)) == [bad, ok]
    # key exists: every job has an owner label, none has a "nope" label
    assert sorted(j["jobId"] for j in hook.list_jobs(filter=f"jobId:{prefix}* AND labels.owner:*")) == [bad, ok]
    assert hook.list_jobs(filter=f"jobId:{prefix}* AND labels.nope:*") == []
    if backend == "vertex":
        with pytest.raises(ValueError, match="trainingInput.region"):
            hook.list_jobs(filter="trainingInput.region=us-central1")


@pytest.mark.parametrize("backend", ["vertex"], indirect=True)
def test_vertex_create_looks_for_its_job_by_label_in_one_kind(backend: str, staged_trainer: str) -> None:
    """The re-attach lookup before a Vertex create asks the service for this job only (label and displayName
    filter) and only among the kind being created, not every job of both kinds."""
    hook = TrainingJobHook(retry_delay=0.01)
    http = hook._client("training")._http
    real_request = http.request
    lists: list[dict[str, Any]] = []

    def request(uri: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        if method == "GET" and uri.split("?")[0].endswith(("/customJobs", "/hyperparameterTuningJobs")):
            lists.append({"path": urlparse(uri).path, **parse_qs(urlparse(uri).query)})
        return real_request(uri, method, *args, **kwargs)

    http.request = request
    job_id = unique("find_one")
    hook.create_job(backend_job(backend, job_id, staged_trainer, lines=0))
    assert lists and all(q["path"].endswith("/customJobs") for q in lists)
    assert all(q["filter"] == [f'labels.trainjobs_job_id="{job_id}" AND display_name="{job_id}"'] for q in lists)
