"""The per-job log cap (issue 10, item 3): past ``--max-log-entries`` / ``--max-log-mb`` a job's trainer lines
are counted, not stored; one ``[log truncated: N lines dropped]`` entry says how many, and the job's logs
stay readable through entries:list."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import list_log_entries, logging_client, ml_client, tiny_job, unique, upload, wait_for

from airflow_provider_trainjobs.local.launcher import serving
from airflow_provider_trainjobs.local.store import LogCap, Store

PROJECT = "local-project"
CAP = 25
LINES = 300
MARKER = re.compile(r"^\[log truncated: (\d+) lines dropped\]$")


@pytest.fixture(scope="module")
def capped_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with serving(tmp_path_factory.mktemp("capped") / "data", "--max-log-entries", str(CAP)) as service:
        yield service


def _trainer_lines(entries: list[dict[str, Any]]) -> list[str]:
    return [e["jsonPayload"]["message"] for e in entries if e["labels"]["task_name"] != "service"]


def _markers(entries: list[dict[str, Any]]) -> list[int]:
    return [int(m[1]) for e in entries if (m := MARKER.match(e["jsonPayload"]["message"]))]


def _run(service: Any, sdist: Path, lines: int) -> list[dict[str, Any]]:
    ml = ml_client(service.api_endpoint)
    job_id = unique("chatty")
    ml.projects().jobs().create(parent=f"projects/{PROJECT}",
                                body=tiny_job(job_id, upload(service.storage_endpoint, sdist), lines=lines)).execute()
    job = wait_for(ml, PROJECT, job_id)
    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    return list_log_entries(logging_client(service.api_endpoint), job_id, pageSize=7)


def test_a_chatty_trainer_keeps_the_cap_and_one_truncation_entry(capped_service: Any, local_service: Any,
                                                                  trainer_sdist: Path) -> None:
    uncapped = _trainer_lines(_run(local_service, trainer_sdist, LINES))  # every line the trainer prints
    entries = _run(capped_service, trainer_sdist, LINES)

    kept = _trainer_lines(entries)
    assert kept == uncapped[:CAP]
    assert _markers(entries) == [len(uncapped) - CAP]
    messages = [e["jsonPayload"]["message"] for e in entries]
    assert messages[-1] == "Job completed successfully."  # the service's own lines are never capped
    assert messages.index(next(m for m in messages if MARKER.match(m))) > messages.index(kept[-1])


def test_a_quiet_trainer_is_not_truncated(capped_service: Any, trainer_sdist: Path) -> None:
    entries = _run(capped_service, trainer_sdist, 3)
    assert _markers(entries) == []
    assert "tiny line 3 of 3" in _trainer_lines(entries)


def _trainer_rows(n: int, size: int = 10) -> list[tuple[str, str, str | None, str]]:
    return [("INFO", "master-replica-0", None, f"{i:0{size}d}") for i in range(n)]


def test_the_byte_cap_counts_message_bytes_and_the_count_survives_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "service.db", LogCap(max_entries=1000, max_bytes=55))
    store.add_logs(PROJECT, "job", _trainer_rows(3))  # 30 bytes
    store.add_logs(PROJECT, "job", _trainer_rows(4))  # two fit (50 bytes), then the cap
    store.add_logs(PROJECT, "job", [("INFO", "service", None, "Job completed successfully.")])
    store.close()
    store = Store(tmp_path / "service.db", LogCap(max_entries=1000, max_bytes=55))
    store.add_logs(PROJECT, "job", _trainer_rows(5))
    messages = [row["message"] for row in store.logs(PROJECT, "job")]
    store.close()

    assert messages == ["0000000000", "0000000001", "0000000002", "0000000000", "0000000001",
                        "[log truncated: 7 lines dropped]", "Job completed successfully."]


def test_each_job_has_its_own_cap(tmp_path: Path) -> None:
    store = Store(tmp_path / "service.db", LogCap(max_entries=2, max_bytes=10**9))
    store.add_logs(PROJECT, "a", _trainer_rows(3))
    store.add_logs(PROJECT, "b", _trainer_rows(2))
    store.add_logs("other", "a", _trainer_rows(1))
    assert [r["message"] for r in store.logs(PROJECT, "a")][-1] == "[log truncated: 1 lines dropped]"
    assert len(store.logs(PROJECT, "b")) == 2
    assert len(store.logs("other", "a")) == 1
    store.close()


@pytest.mark.parametrize("argv", [["--max-log-entries", "-1"], ["--max-log-mb", "nan"], ["--max-log-mb", "-2"],
                                  ["--keep-work-dirs", "maybe"]])
def test_bad_cap_options_are_refused_naming_the_option(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_provider_trainjobs.local.cli import _parser

    with pytest.raises(SystemExit):
        _parser().parse_args(["serve", *argv])
    assert f"argument {argv[0]}" in capsys.readouterr().err


def test_the_cap_options_survive_up_handing_them_to_serve() -> None:
    from airflow_provider_trainjobs.local.cli import _parser
    from airflow_provider_trainjobs.local.job_limits import log_cap_from_args

    args = _parser().parse_args(["serve", "--max-log-entries", "7", "--max-log-mb", "0.5", "--keep-work-dirs",
                                 "False"])
    assert log_cap_from_args(args) == LogCap(max_entries=7, max_bytes=500_000)
    assert args.keep_work_dirs is False
    assert _parser().parse_args(["serve", "--keep-work-dirs"]).keep_work_dirs is True
    assert log_cap_from_args(_parser().parse_args(["serve"])) == LogCap()


def test_a_flood_of_dropped_lines_ends_with_the_exact_count(tmp_path: Path) -> None:
    store = Store(tmp_path / "service.db", LogCap(max_entries=1, max_bytes=10**9))
    for row in _trainer_rows(2500):  # one line per call, as a trainer's output arrives
        store.add_logs(PROJECT, "job", [row])
    store.end_logs(PROJECT, "job")
    store.add_logs(PROJECT, "job", _trainer_rows(1))  # a straggler after the end counts on
    store.end_logs(PROJECT, "job")
    messages = [row["message"] for row in store.logs(PROJECT, "job")]
    store.close()
    assert messages == ["0000000000", "[log truncated: 2500 lines dropped]"]
