"""The console as a browser sees it: the job index (filters, paging), the styled 404, the log filters, the
Airflow link, the chart's ticks and width, in headless Chromium against the session's real service."""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from support import make_job, ml_client, tiny_job, unique, upload, wait_for
from support.browser import find_chromium, run_chromium

from airflow_provider_trainjobs.local.chart import nice_ticks, tick_label
from airflow_provider_trainjobs.local.index_page import airflow_link

EVIL = "<script>alert(1)</script>"


def _get(service: Any, path: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(f"{service.api_endpoint}{path}", timeout=20) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def _job_ids(page: str) -> list[str]:
    return re.findall(r'<tr class="job" data-job-id="([^"]+)"', page)


@pytest.fixture(scope="module")
def console_jobs(local_service: Any, trainer_sdist: Path) -> dict[str, Any]:
    """Three labelled jobs of one team (two succeed, one fails) and a tuning job, all finished."""
    ml = ml_client(local_service.api_endpoint)
    uri = upload(local_service.storage_endpoint, trainer_sdist)
    team = unique("team").replace("_", "-")
    ids = [unique("console") for _ in range(3)]
    for n, job_id in enumerate(ids):
        body = tiny_job(job_id, uri, lines=2, exit_code=1 if n == 1 else 0)
        body["labels"] = {"team": team, "airflow_dag_id": "retraining", "airflow_task_id": "train_final",
                          "airflow_run_id": "manual__2025-01-06t09-30-00-00-00"}
        ml.projects().jobs().create(parent="projects/local-project", body=body).execute()
    spec = {"goal": "MAXIMIZE", "algorithm": "GRID_SEARCH", "maxTrials": 3, "maxParallelTrials": 3,
            "params": [{"parameterName": "x", "type": "INTEGER", "minValue": 1, "maxValue": 3}]}
    tune_id = unique("console_tune")
    body = make_job(tune_id, uri, ["--mode", "hp", "--kind", "c"], hyperparameters=spec)
    body["labels"] = {"team": team}
    ml.projects().jobs().create(parent="projects/local-project", body=body).execute()
    for job_id in [*ids, tune_id]:
        wait_for(ml, "local-project", job_id, limit=120)
    return {"team": team, "ids": ids, "tune": tune_id}


def test_the_index_lists_filters_and_pages_jobs(local_service: Any, console_jobs: dict[str, Any]) -> None:
    team, ids = console_jobs["team"], console_jobs["ids"]
    for path in ("/console", "/console/", "/console/jobs"):
        status, page, headers = _get(local_service, f"{path}?label=team:{team}")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert _job_ids(page) == [*ids, console_jobs["tune"]]  # creation order
    assert "retraining.train_final" in page and "<b>all</b>" in page

    _, failed, _ = _get(local_service, f"/console?label=team:{team}&state=FAILED")
    assert _job_ids(failed) == [ids[1]]
    assert "<b>FAILED</b>" in failed and 'id="label-filter"' in failed

    # two per page: a next-page link, which leads to the rest and back to the first page
    _, first, _ = _get(local_service, f"/console?label=team:{team}&size=2")
    assert _job_ids(first) == ids[:2]
    nxt = unescape(re.search(r'id="next-page" href="([^"]+)"', first)[1])  # type: ignore[index]
    _, second, _ = _get(local_service, nxt)
    assert _job_ids(second) == [ids[2], console_jobs["tune"]]
    assert 'id="next-page"' not in second and 'id="first-page"' in second

    # the label chips are filter links
    chip = unescape(re.search(r'class="chip" href="([^"]+team%3A[^"]+)"', first)[1])  # type: ignore[index]
    assert _job_ids(_get(local_service, chip)[1]) == [*ids, console_jobs["tune"]]


@pytest.mark.parametrize("query", ["state=BOGUS", "label=nocolon", f"label={EVIL}", "after=-1", "after=x",
                                   "size=abc", "state=" + "R" * 5000, "label=team:" + "a" * 200])
def test_the_index_refuses_bad_filters_with_one_message(local_service: Any, query: str) -> None:
    status, body, headers = _get(local_service, f"/console?{query}")
    assert status == 400, body
    assert headers["Content-Type"].startswith("text/html") and 'class="notfound"' in body  # a styled page
    assert "<script>" not in body and ("state:" in body or "label:" in body or "after/size:" in body)


def test_unknown_pages_get_the_styled_not_found_page(local_service: Any) -> None:
    for path in (f"/console/jobs/{EVIL.replace('/', '')}", "/console/nope", "/console/jobs/a/b"):
        status, page, headers = _get(local_service, path)
        assert status == 404 and headers["Content-Type"].startswith("text/html")
        assert 'class="notfound"' in page and "<style>" in page and 'href="/console?project=local-project"' in page
        assert "<script>" not in page


def test_the_log_tail_filters_by_replica_and_trial(local_service: Any, console_jobs: dict[str, Any]) -> None:
    job_id = console_jobs["ids"][0]
    _, page, _ = _get(local_service, f"/console/jobs/{job_id}")
    assert 'id="replica-filters"' in page and "master-replica-0" in page and "tiny line 1" in page
    # the session's service runs with the default --airflow-url: the job links to its Airflow task
    assert 'class="airflow-link" href="http://localhost:8080/dags/retraining/tasks/train_final"' in page
    _, service_only, _ = _get(local_service, f"/console/jobs/{job_id}?replica=service")
    logs = re.search(r'<pre id="logs">(.*?)</pre>', service_only, re.S)[1]  # type: ignore[index]
    assert logs and "tiny line" not in logs and "master-replica-0" not in logs
    assert "Logs (last" in service_only and ", replica service)" in service_only

    tune = console_jobs["tune"]
    _, trial_page, _ = _get(local_service, f"/console/jobs/{tune}?trial=2")
    logs = re.search(r'<pre id="logs">(.*?)</pre>', trial_page, re.S)[1]  # type: ignore[index]
    assert logs.count("trial 2") == len(logs.splitlines()) and 'id="trial-filters"' in trial_page
    assert _get(local_service, f"/console/jobs/{tune}?trial=../x")[0] == 400


def test_the_airflow_link_names_the_task_only_when_the_labels_do() -> None:
    labels = {"airflow_dag_id": "retraining", "airflow_task_id": "tune", "airflow_run_id": "manual__x"}
    link = airflow_link(labels, "http://airflow.example:8080/")
    assert 'href="http://airflow.example:8080/dags/retraining/tasks/tune"' in link and "run manual__x" in link
    assert airflow_link({"airflow_dag_id": "retraining"}, "http://a") == ""
    assert airflow_link(labels, "") == ""  # serve --airflow-url '' turns the links off
    hostile = airflow_link({"airflow_dag_id": EVIL, "airflow_task_id": '"><b>'}, "http://a")
    assert "<script>" not in hostile and '"><b>' not in hostile


@pytest.mark.parametrize(("low", "high", "expected"), [
    (0.55, 0.93, ["0.5", "0.6", "0.7", "0.8", "0.9", "1.0"]),  # an accuracy never runs past 1.0
    (0.61845, 0.61845, ["0.605", "0.610", "0.615", "0.620", "0.625", "0.630", "0.635"]),
    (-3.2, 17.9, ["-5", "0", "5", "10", "15", "20"]),
    (1, 5, ["1", "2", "3", "4", "5"]),
    (0.0, 0.0, ["-1.0", "-0.5", "0.0", "0.5", "1.0"]),
])
def test_chart_ticks_are_rounded_and_span_the_data(low: float, high: float, expected: list[str]) -> None:
    ticks = nice_ticks(low, high)
    assert [tick_label(t, ticks) for t in ticks] == expected
    assert ticks[0] <= low and ticks[-1] >= high


def test_the_console_in_chromium(local_service: Any, console_jobs: dict[str, Any], tmp_path: Path) -> None:
    browser = find_chromium()
    team = console_jobs["team"]
    index_url = f"{local_service.api_endpoint}/console?label=team:{team}"
    dom = run_chromium(browser, tmp_path, "--dump-dom", index_url).stdout
    assert _job_ids(dom) == [*console_jobs["ids"], console_jobs["tune"]]
    run_chromium(browser, tmp_path, f"--screenshot={tmp_path / 'index.png'}", "--window-size=1200,700", index_url)

    job_url = f"{local_service.api_endpoint}/console/jobs/{console_jobs['tune']}"
    dom = run_chromium(browser, tmp_path, "--dump-dom", job_url).stdout
    assert '<svg id="trials-chart"' in dom and 'width="100%"' in dom
    labels = re.findall(r'<text class="y-tick"[^>]*>([^<]+)</text>', dom)
    assert labels and all(len(v.split(".")[-1]) <= 2 for v in labels)  # rounded, not 0.61845
    run_chromium(browser, tmp_path, f"--screenshot={tmp_path / 'job.png'}", "--window-size=1200,1400", job_url)
    for shot in ("index.png", "job.png"):
        assert (tmp_path / shot).stat().st_size > 10_000  # a rendered page, not a blank one
    if os.environ.get("CONSOLE_SHOTS"):  # a directory to keep the screenshots in, for a person to look at
        keep = Path(os.environ["CONSOLE_SHOTS"])
        keep.mkdir(parents=True, exist_ok=True)
        for shot in ("index.png", "job.png"):
            (keep / shot).write_bytes((tmp_path / shot).read_bytes())
