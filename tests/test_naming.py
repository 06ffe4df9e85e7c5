"""default_job_id and sanitize_label_value: deterministic, valid, collision-resistant."""

from __future__ import annotations

import re

import pytest

from airflow_provider_trainjobs.naming import default_job_id, is_valid_job_id, sanitize_label_value

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
