"""The store at scale: queue positions derived from the creation order, list pages served by SQL keyset
pages, and a scheduler that sleeps until something happens (issue 10, item 5)."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import ml_client, unique

from airflow_provider_trainjobs.local import store as store_module
from airflow_provider_trainjobs.local.engine import Engine
from airflow_provider_trainjobs.local.filters import parse_job_filter
from airflow_provider_trainjobs.local.job_pages import conjunction_terms
from airflow_provider_trainjobs.local.launcher import serving
from airflow_provider_trainjobs.local.store import Store

PROJECT = "local-project"


def _body(job_id: str, **labels: str) -> dict[str, Any]:
    return {"jobId": job_id, "labels": labels,
            "trainingInput": {"scaleTier": "BASIC", "region": "us-central1",
                              "packageUris": ["gs://b/trainer-0.1.tar.gz"], "pythonModule": "trainer.task"}}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine that keeps every job QUEUED (``max_concurrent_jobs=0``), on a store in ``tmp_path``."""
    store = Store(tmp_path / "service.db")
    engine = Engine(store, tmp_path, "http://127.0.0.1:1", max_concurrent_jobs=0)
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()
        store.close()


@pytest.fixture(scope="module")
def queue_only_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with serving(tmp_path_factory.mktemp("queueonly") / "data", "--max-concurrent-jobs", "0") as service:
        yield service


def _stored_bodies(data_dir: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(data_dir / "service.db") as db:
        return {job_id: json.loads(body) for job_id, body in db.execute("SELECT job_id, body FROM jobs")}


def test_creating_and_cancelling_touch_only_that_job_and_positions_follow(queue_only_service: Any) -> None:
    ml = ml_client(queue_only_service.api_endpoint)
    jobs = ml.projects().jobs()
    ids = [unique(f"pos{i}") for i in range(4)]
    first = jobs.create(parent=f"projects/{PROJECT}", body=_body(ids[0])).execute()
    before = _stored_bodies(queue_only_service.data_dir)[ids[0]]
    for job_id in ids[1:]:
        jobs.create(parent=f"projects/{PROJECT}", body=_body(job_id)).execute()
    base = int(first["jobPosition"])

    # The first job's stored record is untouched by the creates after it: positions are not rewritten.
    assert _stored_bodies(queue_only_service.data_dir)[ids[0]] == before
    assert "jobPosition" not in before
    assert [jobs.get(name=f"projects/{PROJECT}/jobs/{i}").execute()["jobPosition"] for i in ids] == [
        str(base + n) for n in range(4)]

    jobs.cancel(name=f"projects/{PROJECT}/jobs/{ids[1]}", body={}).execute()
    after = [jobs.get(name=f"projects/{PROJECT}/jobs/{i}").execute() for i in ids]
    assert [j.get("jobPosition") for j in after] == [str(base), None, str(base + 1), str(base + 2)]
    assert after[1]["state"] == "CANCELLED"
    listed = {j["jobId"]: j.get("jobPosition") for j in jobs.list(parent=f"projects/{PROJECT}",
                                                                   pageSize=100).execute().get("jobs", [])}
    assert {i: listed.get(i) for i in ids if i in listed} == {
        i: j.get("jobPosition") for i, j in zip(ids, after, strict=True) if i in listed}


def test_queued_jobs_keep_their_order_across_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "service.db")
    engine = Engine(store, tmp_path, "http://127.0.0.1:1", max_concurrent_jobs=0)
    engine.start()
    for n in range(3):
        engine.create(PROJECT, _body(f"job{n}"))
    engine.cancel(PROJECT, "job0")
    engine.stop()
    store.close()

    store = Store(tmp_path / "service.db")
    engine = Engine(store, tmp_path, "http://127.0.0.1:1", max_concurrent_jobs=0)
    engine.start()
    try:
        assert [engine.get(PROJECT, f"job{n}").get("jobPosition") for n in range(3)] == [None, "0", "1"]
        assert engine.create(PROJECT, _body("job3"))["jobPosition"] == "2"
    finally:
        engine.stop()
        store.close()


def test_a_list_page_decodes_the_page_not_every_job(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(300):
        engine.create(PROJECT, _body(f"job{n:03d}", group="even" if n % 2 == 0 else "odd"))
    decoded = []
    real_loads = json.loads
    monkeypatch.setattr(store_module.json, "loads", lambda text: decoded.append(1) or real_loads(text))

    page = engine.list_page(PROJECT, lambda job: True, filter_text=None, page_size=10, after_seq=0)
    second = engine.list_page(PROJECT, lambda job: True, filter_text=None, page_size=10,
                              after_seq=int(page.next_token))
    labelled = engine.list_page(PROJECT, parse_job_filter("labels.group=odd"), filter_text="labels.group=odd",
                                page_size=10)

    assert [j["jobId"] for j in page.jobs] == [f"job{n:03d}" for n in range(10)]
    assert [j["jobId"] for j in second.jobs] == [f"job{n:03d}" for n in range(10, 20)]
    assert [j["jobId"] for j in labelled.jobs] == [f"job{n:03d}" for n in range(1, 21, 2)]
    assert len(decoded) <= 3 * 11  # each page decodes its rows and one more, never the 300 jobs


FILTERS = [
    "", "state=QUEUED", "state=CANCELLED", "state:QUEUED AND labels.group=odd", "labels.group:*",
    "labels.team=b labels.group=even", 'jobId:"job01*"', "jobId=job007", "jobId:job1*", "labels.group!=odd",
    "labels.group=odd OR state=CANCELLED", "NOT labels.team=a", "(labels.team=a)", "labels.team:a*",
    "createTime>2000-01-01", "trainingInput.scaleTier=BASIC AND jobId:job0*", "labels.missing=x",
]


@pytest.mark.parametrize("text", FILTERS)
def test_keyset_pages_list_exactly_what_the_filter_selects(engine: Engine, text: str) -> None:
    rng = random.Random(10)
    for n in range(60):
        engine.create(PROJECT, _body(f"job{n:03d}", group=rng.choice(["odd", "even"]), team=rng.choice("ab")))
        if rng.random() < 0.3:
            engine.cancel(PROJECT, f"job{n:03d}")
    engine.create("other-project", _body("job001", group="odd", team="a"))
    predicate = parse_job_filter(text)
    expected = [job["jobId"] for job in engine.list(PROJECT) if predicate(job)]

    for size in (1, 7, 100):
        walked, after, pages = [], 0, 0
        while True:
            page = engine.list_page(PROJECT, predicate, filter_text=text, page_size=size, after_seq=after)
            walked += [job["jobId"] for job in page.jobs]
            pages += 1
            if not page.next_token:
                break
            after = int(page.next_token)
        assert walked == expected
        assert pages <= max(1, -(-len(expected) // size)) + 1


@pytest.mark.parametrize("text", ["a=b OR c=d", "NOT a=b", "-a=b", "(a=b)", "a=b)", 'a="x" OR', "a=b and c=d",
                                  "OR=b", 'a=b"c', "a"])
def test_only_plain_conjunctions_are_pushed_into_sql(text: str) -> None:
    assert conjunction_terms(text) is None


def test_a_conjunction_is_read_term_by_term() -> None:
    assert conjunction_terms('state=QUEUED AND labels.k:"v w"  jobId:x*') == [
        ("state", "=", "QUEUED"), ("labels.k", ":", "v w"), ("jobId", ":", "x*")]


def test_an_idle_scheduler_sleeps_until_something_happens(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(50):
        engine.create(PROJECT, _body(f"job{n}"))
    rounds = []
    real = engine._schedule_once
    monkeypatch.setattr(engine, "_schedule_once", lambda: rounds.append(1) or real())
    engine.create(PROJECT, _body("wake"))  # one event: one round
    time.sleep(0.5)  # the old loop ran five rounds here, each reading and decoding the whole queue
    assert len(rounds) <= 2


def test_a_queued_jobs_wait_limit_wakes_the_scheduler(tmp_path: Path) -> None:
    store = Store(tmp_path / "service.db")
    engine = Engine(store, tmp_path, "http://127.0.0.1:1", max_concurrent_jobs=0, deadline_scale=0.001)
    engine.start()
    try:
        body = _body("waits")
        body["trainingInput"]["scheduling"] = {"maxWaitTime": "200s"}  # 0.2 s at this scale
        engine.create(PROJECT, body)
        deadline = time.monotonic() + 30
        while engine.get(PROJECT, "waits")["state"] == "QUEUED" and time.monotonic() < deadline:
            time.sleep(0.05)
        job = engine.get(PROJECT, "waits")
        assert job["state"] == "CANCELLED"
        assert "maxWaitTime (200s) while QUEUED" in job["errorMessage"]
    finally:
        engine.stop()
        store.close()


def test_a_database_written_before_the_list_columns_is_migrated(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "service.db") as db:
        db.execute("CREATE TABLE jobs (project TEXT NOT NULL, job_id TEXT NOT NULL, seq INTEGER NOT NULL,"
                   " body TEXT NOT NULL, pids TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (project, job_id))")
        for n, state in enumerate(["SUCCEEDED", "QUEUED", "QUEUED"]):
            body = dict(_body(f"old{n}", team="a"), state=state, createTime="2024-01-01T00:00:00.000000Z",
                        jobPosition="7")
            db.execute("INSERT INTO jobs (project, job_id, seq, body) VALUES (?, ?, ?, ?)",
                       (PROJECT, f"old{n}", n + 1, json.dumps(body)))
    store = Store(tmp_path / "service.db")
    engine = Engine(store, tmp_path, "http://127.0.0.1:1", max_concurrent_jobs=0)
    engine.start()
    try:
        page = engine.list_page(PROJECT, parse_job_filter("state=QUEUED labels.team=a"),
                                filter_text="state=QUEUED labels.team=a", page_size=10)
        assert [(j["jobId"], j.get("jobPosition")) for j in page.jobs] == [("old1", "0"), ("old2", "1")]
        assert "jobPosition" not in engine.get(PROJECT, "old0")
    finally:
        engine.stop()
        store.close()
