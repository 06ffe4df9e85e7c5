"""entries:list over many jobs at once: the poller's OR filter through the real logging client, paging
across jobs, and hostile OR filters refused with a Google-shaped 400."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from googleapiclient.errors import HttpError
from support import list_log_entries, logging_client, ml_client, tiny_job, unique, upload, wait_for
from support.raw_http import request

from airflow_provider_trainjobs.hooks.logs import batch_log_filter, project_log_filter
from airflow_provider_trainjobs.local.filters import MAX_CLAUSES, FilterError, parse_log_filter

PROJECT = "local-project"


def _pages(logging: Any, filter_: str, page_size: int) -> tuple[list[dict[str, Any]], int]:
    entries: list[dict[str, Any]] = []
    token, pages = None, 0
    while True:
        body: dict[str, Any] = {"resourceNames": [f"projects/{PROJECT}"], "filter": filter_,
                                "orderBy": "timestamp asc", "pageSize": page_size}
        if token:
            body["pageToken"] = token
        page = logging.entries().list(body=body).execute()
        pages += 1
        entries += page.get("entries", [])
        token = page.get("nextPageToken")
        if not token:
            return entries, pages


def _finished_jobs(service: Any, sdist: Path, stem: str, n: int, *, lines: int
                   ) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    """``n`` tiny jobs run to SUCCEEDED on the service, and each one's entries read alone."""
    ml = ml_client(service.api_endpoint)
    uri = upload(service.storage_endpoint, sdist)
    ids = [unique(stem) for _ in range(n)]
    for job_id in ids:
        ml.projects().jobs().create(parent=f"projects/{PROJECT}", body=tiny_job(job_id, uri, lines=lines)).execute()
    for job_id in ids:
        assert wait_for(ml, PROJECT, job_id)["state"] == "SUCCEEDED"
    logging = logging_client(service.api_endpoint)
    return ids, {job_id: list_log_entries(logging, job_id) for job_id in ids}


def test_the_pollers_or_filter_reads_each_jobs_entries_once_in_order_across_pages(
        local_service: Any, trainer_sdist: Path) -> None:
    ids, alone = _finished_jobs(local_service, trainer_sdist, "or_logs", 3, lines=4)
    logging = logging_client(local_service.api_endpoint)
    assert all(len(rows) >= 4 for rows in alone.values())
    floor = alone[ids[2]][2]["timestamp"]  # the third job is still catching up from its own floor
    filter_ = batch_log_filter(ids[:2], None, {ids[2]: floor})
    assert " OR " in filter_ and filter_.count("(") >= 3

    entries, pages = _pages(logging, filter_, page_size=3)

    expected = alone[ids[0]] + alone[ids[1]] + alone[ids[2]][2:]
    assert pages > len(expected) // 3
    assert sorted(e["insertId"] for e in entries) == sorted(e["insertId"] for e in expected)  # each once
    keys = [(e["timestamp"], int(e["insertId"])) for e in entries]
    assert keys == sorted(keys)
    for job_id in ids:
        mine = [e["insertId"] for e in entries if e["resource"]["labels"]["job_id"] == job_id]
        assert mine == [e["insertId"] for e in alone[job_id] if e["timestamp"] >= (floor if job_id == ids[2] else "")]
    one_page, _ = _pages(logging, filter_, page_size=1000)
    assert one_page == entries  # one page gives the same as many


def test_the_shared_floor_form_with_a_later_timestamp_reads_only_newer_entries(local_service: Any) -> None:
    logging = logging_client(local_service.api_endpoint)
    filter_ = batch_log_filter(["nobody-a", "nobody-b"], "2999-01-01T00:00:00Z", {})
    assert _pages(logging, filter_, page_size=5) == ([], 1)


def test_a_floor_alone_reads_every_job_of_the_project_from_it_in_order_across_pages(
        local_service: Any, trainer_sdist: Path) -> None:
    """The poller's project-wide form (its ids would need more filters than a refresh sends)."""
    ids, alone = _finished_jobs(local_service, trainer_sdist, "wide_logs", 2, lines=3)
    logging = logging_client(local_service.api_endpoint)
    floor = min(alone[ids[0]][1]["timestamp"], alone[ids[1]][1]["timestamp"])

    entries, pages = _pages(logging, project_log_filter(floor), page_size=2)

    assert pages > 1 and all(e["timestamp"] >= floor for e in entries)
    keys = [(e["timestamp"], int(e["insertId"])) for e in entries]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)  # in order, each once
    for job_id in ids:  # other tests' jobs may be in the project too: each of ours is there whole
        mine = [e["insertId"] for e in entries if e["resource"]["labels"]["job_id"] == job_id]
        assert mine == [e["insertId"] for e in alone[job_id] if e["timestamp"] >= floor]
    assert _pages(logging, project_log_filter("2999-01-01T00:00:00Z"), page_size=5) == ([], 1)
    mixed = f"({project_log_filter('2999-01-01T00:00:00Z')}) OR ({batch_log_filter([ids[0]], None, {})})"
    assert [e["insertId"] for e in _pages(logging, mixed, page_size=1000)[0]] == \
        [e["insertId"] for e in alone[ids[0]]]  # a job-only group beside the project one keeps its own floor


@pytest.mark.parametrize("filter_, words", [
    ('resource.type="ml_job"', ["job_id", "timestamp>= floor"]),
    ('resource.labels.job_id="a" OR severity>="ERROR"', ["job_id", "OR-ed group"]),
    ('(resource.labels.job_id="a" OR resource.labels.job_id="b"', ["missing ')'"]),
    ('resource.labels.job_id="a" OR', ["ends where a term"]),
    ('resource.labels.job_id="a" AND resource.labels.job_id="b"', ["one resource.labels.job_id"]),
    ('NOT resource.labels.job_id="a"', ["NOT"]),
    ("(" * 5000 + 'resource.labels.job_id="a"' + ")" * 5000, ["nested"]),
    ("(" * 60 + 'resource.labels.job_id="a"' + ")" * 60 + ")", ["unexpected"]),
    (" AND ".join(f'(resource.labels.job_id="a" OR labels.task_name="t{i}")' for i in range(12)), ["OR-ed groups"]),
    (" OR ".join(f'resource.labels.job_id="j{i}"' for i in range(900)), ["20000"]),
    ('resource.labels.job_id="a" OR (resource.labels.job_id="b" AND timestamp>="yesterday")', ["timestamp"]),
    ('resource.type="gce_instance" OR resource.labels.job_id="a"', ["resource.type"]),
    ('resource.labels.job_id="a" OR resource.labels.job_id="b" ))(( ', ["unexpected"]),
])
def test_malformed_or_filters_get_a_google_400_naming_the_problem(local_service: Any, filter_: str,
                                                                  words: list[str]) -> None:
    answer = request(local_service.api_endpoint, "POST", "/v2/entries:list",
                     json.dumps({"resourceNames": [f"projects/{PROJECT}"], "filter": filter_}))
    assert answer.status == 400, (answer.status, answer.body[:300])
    error = answer.error()
    for word in words:
        assert word in error["message"].replace(",", ""), error
    assert "Traceback" not in answer.body.decode("utf-8", "replace")


def test_a_page_token_of_another_shape_is_refused(local_service: Any) -> None:
    logging = logging_client(local_service.api_endpoint)
    for token in ("12", "1.2.3", "a.b", "9" * 19 + ".1"):
        with pytest.raises(HttpError) as err:
            logging.entries().list(body={"filter": 'resource.labels.job_id="a"', "pageToken": token}).execute()
        assert err.value.resp.status == 400 and b"pageToken" in err.value.content


def test_the_parser_expands_ors_under_an_and_and_bounds_the_expansion() -> None:
    groups = parse_log_filter('resource.type="ml_job" AND (resource.labels.job_id="a" OR resource.labels.job_id="b")'
                              ' AND timestamp>="2024-01-01T00:00:00Z"')
    assert [[t[2] for t in g] for g in groups] == [["ml_job", "a", "2024-01-01T00:00:00Z"],
                                                   ["ml_job", "b", "2024-01-01T00:00:00Z"]]
    assert parse_log_filter("") == [[]]
    wide = " AND ".join(f"(x={i} OR y={i})" for i in range(11))  # 2**11 groups
    assert 2 ** 11 > MAX_CLAUSES
    with pytest.raises(FilterError, match="OR-ed groups"):
        parse_log_filter(wide)


def test_random_or_filters_never_get_a_500(local_service: Any) -> None:
    import random

    rng = random.Random(20261201)
    pieces = ["(", ")", " OR ", " AND ", " NOT ", 'resource.labels.job_id="a"', 'resource.labels.job_id="b"',
              'timestamp>="2024-01-01T00:00:00Z"', "timestamp>x", 'resource.type="ml_job"', '"', "=", "severity>=ERROR",
              'labels.task_name="master-replica-0"', "\x00", "é", "a.b.c:d", "-"]
    for _ in range(150):
        filter_ = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        answer = request(local_service.api_endpoint, "POST", "/v2/entries:list",
                         json.dumps({"filter": filter_, "pageSize": rng.randint(-5, 5)}))
        assert answer.status in (200, 400), (filter_, answer.status, answer.body[:300])
        assert answer.headers["content-type"].startswith("application/json")
