"""default_job_id and sanitize_label_value: deterministic, valid, collision-resistant."""

from __future__ import annotations

import re

import pytest

from airflow_provider_trainjobs.naming import (
    default_job_id,
    is_valid_job_id,
    resubmit_job_id,
    sanitize_label_value,
)

LABEL_RE = re.compile(r"[a-z0-9_-]{0,63}")


@pytest.mark.parametrize(("dag_id", "task_id", "run_id"), [
    ("train_census", "submit", "manual__2025-01-31T00:00:00+00:00"),
    ("1dag", "group.task", "scheduled__2025-01-31T00:00:00+00:00"),
    ("d", "t", "___"),
    ("dag-" * 60, "task" * 40, "run" * 50),
    ("日本語", "タスク", "実行"),
])
def test_default_job_id_is_valid_and_stable(dag_id: str, task_id: str, run_id: str) -> None:
    job_id = default_job_id(dag_id, task_id, run_id)
    assert is_valid_job_id(job_id), job_id
    assert default_job_id(dag_id, task_id, run_id) == job_id


def test_default_job_id_is_readable_and_distinct() -> None:
    job_id = default_job_id("train_census", "submit", "manual__2025-01-31T00:00:00+00:00")
    assert job_id.startswith("train_census_submit_manual_2025_01_31T00_00_00_00_00_")
    # Ids that sanitise to the same text still differ.
    assert default_job_id("a-b", "t", "r") != default_job_id("a_b", "t", "r")
    assert default_job_id("d", "t", "r1") != default_job_id("d", "t", "r2")
    long_a, long_b = default_job_id("x" * 200, "t", "r1"), default_job_id("x" * 200, "t", "r2")
    assert len(long_a) == 128 and long_a != long_b


def test_each_map_index_gets_its_own_stable_id() -> None:
    run = "manual__2025-01-31T00:00:00+00:00"
    unmapped = default_job_id("d", "t", run)
    assert default_job_id("d", "t", run, -1) == default_job_id("d", "t", run, None) == unmapped
    mapped = [default_job_id("d", "t", run, i) for i in range(3)]
    assert mapped == [f"{unmapped}_m{i}" for i in range(3)]
    assert default_job_id("d", "t", run, 2) == mapped[2]  # the same on every try
    long_ids = [default_job_id("x" * 200, "t", run, i) for i in (7, 1234)]
    assert all(is_valid_job_id(j) and len(j) == 128 for j in long_ids)
    assert long_ids[0].endswith("_m7") and long_ids[1].endswith("_m1234")


@pytest.mark.parametrize("base", ["job", "a" * 120, "a" * 128, "b" * 126 + "_c"])
def test_resubmit_job_ids_are_valid_distinct_and_stable(base: str) -> None:
    assert resubmit_job_id(base, 1) == base
    chain = [resubmit_job_id(base, n) for n in range(2, 120)]
    assert all(is_valid_job_id(j) for j in chain), chain
    assert len(set(chain)) == len(chain) and base not in chain
    assert all(j.endswith(f"_r{n}") for n, j in zip(range(2, 120), chain, strict=True))
    assert resubmit_job_id(base, 3) == chain[1]
    if len(base) <= 125:
        assert chain[0] == f"{base}_r2"
    with pytest.raises(ValueError, match="attempt"):
        resubmit_job_id(base, 0)


def test_long_resubmitted_ids_of_different_bases_differ() -> None:
    assert resubmit_job_id("a" * 127 + "b", 2) != resubmit_job_id("a" * 127 + "c", 2)


def test_is_valid_job_id_rules() -> None:
    assert is_valid_job_id("a") and is_valid_job_id("Job_1") and is_valid_job_id("a" * 128)
    for bad in ("", "1job", "_job", "job-1", "job.1", "a" * 129):
        assert not is_valid_job_id(bad), bad


@pytest.mark.parametrize(("value", "expected"), [
    ("train_census", "train_census"),
    ("Manual__2025-01-31T00:00:00+00:00", "manual__2025-01-31t00-00-00-00-00"),
    ("", ""),
    ("a.b/c d", "a-b-c-d"),
])
def test_sanitize_label_value(value: str, expected: str) -> None:
    assert sanitize_label_value(value) == expected


def test_sanitize_long_label_values_stay_valid_and_distinct() -> None:
    a, b = sanitize_label_value("run" * 40 + "A"), sanitize_label_value("run" * 40 + "B")
    assert LABEL_RE.fullmatch(a) and LABEL_RE.fullmatch(b)
    assert len(a) == 63 and a != b


@pytest.mark.parametrize("job_id", ["a", "a" * 128, "a" * 129, "A_1", "1a", "_a", "a-b", "a b", "", "é"])
def test_a_valid_job_id_is_what_the_job_spec_rules_accept(job_id: str) -> None:
    """One rule for a jobId (spec.rules.JOB_ID_RE): naming's check and the spec validation never disagree."""
    from airflow_provider_trainjobs.spec.rules import check_job_id

    assert is_valid_job_id(job_id) == (check_job_id(job_id) == [])
