"""Hostile and random list filters against the SQL keyset pages (local/job_pages.py): the reading of a
filter never raises or hangs, nothing in a filter reaches SQL as text, and a walk through the pages lists
exactly what the filter selects, whatever the filter."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_trainjobs.local.engine import Engine
from airflow_provider_trainjobs.local.filters import FilterError, parse_job_filter
from airflow_provider_trainjobs.local.job_pages import after_seq, conjunction_terms, list_where
from airflow_provider_trainjobs.local.store import Store

PROJECT = "local-project"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    data_dir = tmp_path_factory.mktemp("pages")
    store = Store(data_dir / "service.db")
    engine = Engine(store, data_dir, "http://127.0.0.1:1", max_concurrent_jobs=0)
    engine.start()
    rng = random.Random(7)
    for n in range(40):
        labels = {k: rng.choice(["a", "b", "a b", "x*"]) for k in ("team", "group") if rng.random() < 0.8}
        engine.create(PROJECT, {"jobId": f"job{n:02d}", "labels": labels,
                                "trainingInput": {"scaleTier": rng.choice(["BASIC", "STANDARD_1"])}})
        if rng.random() < 0.3:
            engine.cancel(PROJECT, f"job{n:02d}")
    try:
        yield engine
    finally:
        engine.stop()
        store.close()


_VALUES = st.sampled_from(["a", "b", "x*", "a*", "*", "QUEUED", "CANCELLED", "job0*", "job01", "BASIC", '"a b"',
                           "'; DROP TABLE jobs; --", "%", "_", "\\"])
_FIELDS = st.sampled_from(["jobId", "state", "labels.team", "labels.group", "labels.none", "trainingInput.scaleTier",
                           "labels", "createTime"])
_TERMS = st.builds(lambda f, op, v: f"{f}{op}{v}", _FIELDS, st.sampled_from(["=", ":", "!=", "<", ">="]), _VALUES)
_FILTERS = st.recursive(_TERMS, lambda inner: st.one_of(
    st.builds(lambda a, b: f"{a} AND {b}", inner, inner), st.builds(lambda a, b: f"{a} {b}", inner, inner),
    st.builds(lambda a, b: f"{a} OR {b}", inner, inner), st.builds(lambda a: f"NOT {a}", inner),
    st.builds(lambda a: f"({a})", inner)), max_leaves=5)


def _walk(engine: Engine, text: str, size: int) -> list[str]:
    predicate = parse_job_filter(text)
    walked: list[str] = []
    after = 0
    while True:
        page = engine.list_page(PROJECT, predicate, filter_text=text, page_size=size, after_seq=after)
        walked += [job["jobId"] for job in page.jobs]
        if not page.next_token:
            return walked
        after = int(page.next_token)


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_FILTERS, size=st.sampled_from([1, 3, 100]))
def test_any_filter_walks_to_exactly_what_it_selects(engine: Engine, text: str, size: int) -> None:
    try:
        predicate = parse_job_filter(text)
    except FilterError:
        return  # refused by the route before any page is read
    expected = [job["jobId"] for job in engine.list(PROJECT) if predicate(job)]
    assert _walk(engine, text, size) == expected


@settings(max_examples=500, derandomize=True, deadline=None)
@given(text=st.text(max_size=200))
def test_reading_any_text_gives_terms_or_nothing_to_push(text: str) -> None:
    terms = conjunction_terms(text)
    assert terms is None or all(len(t) == 3 for t in terms)
    where, args = list_where(PROJECT, text)
    assert "?" in where and where.count("?") == len(args)  # every value is bound, none is SQL text


@pytest.mark.parametrize("text", ["a=b " * 100_000, "(" * 100_000, "labels.k=" + "x" * 1_000_000,
                                  "a=b AND " * 50_000 + "c", '"' * 100_000])
def test_huge_filters_are_read_in_linear_time(text: str) -> None:
    started = time.monotonic()
    list_where(PROJECT, text)
    assert time.monotonic() - started < 30  # a hang guard, not a speed goal


def test_sql_text_in_a_filter_is_a_value(engine: Engine, tmp_path: Path) -> None:
    text = "labels.team=\"'); DELETE FROM jobs; --\" jobId:\"x' OR '1'='1*\""
    assert _walk(engine, text, 10) == []
    assert len(engine.list(PROJECT)) == 40


@pytest.mark.parametrize("token", ["x", "-1", "1" * 19, "1.5", "١٢"])
def test_a_page_token_this_service_did_not_issue_is_refused_naming_it(token: str) -> None:
    with pytest.raises(ValueError, match="pageToken"):
        after_seq(token)


def test_a_page_token_carries_the_last_sequence_number() -> None:
    assert (after_seq(None), after_seq(""), after_seq("42")) == (0, 0, 42)
