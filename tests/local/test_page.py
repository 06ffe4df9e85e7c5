"""The job console page: content, escaping, and a real render in headless Chromium."""

from __future__ import annotations

import copy
import re
import struct
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import pytest
from support import make_job, ml_client, unique, upload, wait_for
from support.browser import find_chromium, run_chromium

from airflow_provider_trainjobs.local.page import render_job_page
from airflow_provider_trainjobs.spec import best_trial

EVIL = "<script>alert(1)</script>"


def _tuning_job(goal: str = "MAXIMIZE", state: str = "SUCCEEDED") -> dict:
    objectives = {1: 0.61, 2: 0.74, 3: 0.93, 4: 0.55, 5: 0.88, 6: 0.70}
    trials = [
        {
            "trialId": str(i),
            "state": "SUCCEEDED",
            "hyperparameters": {"learning-rate": repr(0.001 * 10 ** (i % 3)), "hidden-units": str(4 * i)},
            "finalMetric": {"trainingStep": "20", "objectiveValue": value},
            "startTime": "2026-01-02T03:04:05Z",
            "endTime": "2026-01-02T03:04:09Z",
            "isTrialStoppedEarly": i == 4,
        }
        for i, value in objectives.items()
    ]
    trials.append({"trialId": "7", "state": "FAILED", "hyperparameters": {"learning-rate": "9.0"}})
    return {
        "jobId": f"tune_{EVIL}",
        "state": state,
        "createTime": "2026-01-02T03:04:00Z",
        "startTime": "2026-01-02T03:04:02Z",
        "endTime": "2026-01-02T03:05:32Z",
        "errorMessage": f"trial 7 failed: {EVIL}",
        "trainingInput": {
            "scaleTier": "BASIC",
            "packageUris": ["gs://bucket/trainer-0.1.tar.gz"],
            "pythonModule": "trainer.task",
            "args": ["--train-data", EVIL],
            "region": "us-central1",
            "hyperparameters": {
                "goal": goal,
                "hyperparameterMetricTag": "accuracy",
                "maxTrials": 7,
                "maxParallelTrials": 2,
                "params": [],
            },
        },
        "trainingOutput": {
            "isHyperparameterTuningJob": True,
            "completedTrialCount": "7",
            "hyperparameterMetricTag": "accuracy",
            "trials": trials,
        },
    }


LOGS = [
    {"timestamp": f"2026-01-02T03:04:{i:02d}Z", "severity": "INFO", "textPayload": f"epoch {i} done",
     "labels": {"ml.googleapis.com/task_name": "master-replica-0"}}
    for i in range(60)
] + [{"timestamp": "2026-01-02T03:05:00Z", "severity": "ERROR", "jsonPayload": {"message": EVIL},
       "labels": {"task_name": "master-replica-0", "trial_id": "7"}}]


def _marked_best(page: str) -> tuple[str, str]:
    """The trial id the chart marks as best and the one the table row marks as best."""
    chart = re.findall(r'<circle class="trial-point best-trial" data-trial-id="([^"]+)"', page)
    table = re.findall(r'<tr class="best" data-trial-id="([^"]+)"', page)
    assert len(chart) == 1 and len(table) == 1, (chart, table)
    return chart[0], table[0]


def test_page_marks_the_same_best_trial_as_the_xcom() -> None:
    job = _tuning_job()
    # Trial 7 FAILED after reporting the highest metric of all: it is not a result.
    job["trainingOutput"]["trials"][-1]["finalMetric"] = {"trainingStep": "3", "objectiveValue": 0.99}
    best = best_trial(job)
    assert best is not None and best["trialId"] == "3"
    page = render_job_page(job, [])
    assert _marked_best(page) == ("3", "3")
    assert "best: trial 3 = 0.93" in page and "best accuracy = 0.93 (trial 3, maximize)" in page
    assert "best: trial 7" not in page
    assert page.count('class="trial-point') == 7  # the failed trial's value is still plotted (grey)

    minimize = copy.deepcopy(job)
    minimize["trainingInput"]["hyperparameters"]["goal"] = "MINIMIZE"
    minimize["trainingOutput"]["trials"][-1]["finalMetric"]["objectiveValue"] = 0.01
    assert _marked_best(render_job_page(minimize, [])) == ("4", "4")


def test_page_without_a_successful_trial_marks_none() -> None:
    job = _tuning_job()
    job["trainingOutput"]["trials"] = [
        {"trialId": "1", "state": "FAILED", "finalMetric": {"trainingStep": "1", "objectiveValue": 0.5}}
    ]
    page = render_job_page(job, [])
    assert "best-trial" not in page and 'class="best"' not in page
    assert page.count('class="trial-point') == 1


def test_page_escapes_everything_and_shows_the_essentials() -> None:
    page = render_job_page(_tuning_job(), LOGS)
    assert "<script" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # id, error, spec args, log line
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no external assets
    assert "https://" not in page
    assert 'http-equiv="refresh"' not in page  # terminal job: no refresh
    assert "1m 30s" in page  # 03:04:02 -> 03:05:32
    assert "epoch 59 done" in page and "epoch 0 done" in page  # up to LOG_LINES (200) lines
    assert "ERROR master-replica-0 trial 7  &lt;script&gt;" in page
    assert page.count('class="trial-point') == 6  # trial 7 has no objective
    assert "best: trial 3 = 0.93" in page


def test_running_job_refreshes_and_minimize_marks_the_lowest() -> None:
    page = render_job_page(_tuning_job(goal="MINIMIZE", state="RUNNING"), [])
    assert '<meta http-equiv="refresh" content="5">' in page
    assert "best: trial 4 = 0.55" in page
    assert "No log entries yet." in page


def test_plain_job_has_no_trials_section() -> None:
    job = {"jobId": "plain_1", "state": "QUEUED", "createTime": "2026-01-02T03:04:00Z",
           "trainingInput": {"pythonModule": "trainer.task"}}
    page = render_job_page(job, [])
    assert "Hyperparameter tuning" not in page
    assert "<svg" not in page
    assert "not started" in page


# -- headless Chromium ------------------------------------------------------------------------------

@pytest.fixture
def chromium() -> str:
    return find_chromium()


def _decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and raw RGB(A) rows of an 8-bit truecolour PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour_type = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour_type in (2, 6)
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        filt, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if filt == 1:
                line[i] = (line[i] + a) & 0xFF
            elif filt == 2:
                line[i] = (line[i] + b) & 0xFF
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, [b"".join(r[i : i + 3] for i in range(0, len(r), channels)) for r in rows]


def test_page_renders_in_headless_chromium(chromium: str, tmp_path: Path) -> None:
    html = tmp_path / "job.html"
    html.write_text(render_job_page(_tuning_job(), LOGS), encoding="utf-8")

    dom = run_chromium(chromium, tmp_path, "--dump-dom", html.as_uri()).stdout
    assert '<svg id="trials-chart"' in dom
    points = re.findall(r'<circle class="trial-point[^"]*" data-trial-id="(\d+)"', dom)
    assert sorted(points, key=int) == ["1", "2", "3", "4", "5", "6"]
    assert re.search(r'<circle class="trial-point best-trial" data-trial-id="3"[^>]*><title>best: trial 3 = 0.93'
                     r"</title></circle>", dom)
    assert re.search(r'<text id="best-label"[^>]*>best: trial 3 = 0.93</text>', dom)
    assert re.search(r'<tr class="best" data-trial-id="3">', dom)
    assert "<script>" not in dom  # the escaped payloads stayed text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


def test_screenshot_shows_the_best_marker_in_the_chart(chromium: str, tmp_path: Path) -> None:
    # A RUNNING job: its badge is blue, so the only pixels of the marker's green are the best trial's point.
    html = tmp_path / "job.html"
    html.write_text(render_job_page(_tuning_job(state="RUNNING"), LOGS), encoding="utf-8")
    shot = tmp_path / "job.png"
    run_chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", html.as_uri())
    width, height, rows = _decode_png(shot.read_bytes())
    assert (width, height) == (1200, 1600)
    pixels = {row[i : i + 3] for row in rows[::4] for i in range(0, len(row), 12)}
    assert len(pixels) > 50  # text, badge, chart: far from a blank page
    green = bytes.fromhex("1e8e3e")  # the best trial's marker (r=9)
    found = [(x // 3, y) for y, row in enumerate(rows) for x in range(0, len(row), 3) if row[x : x + 3] == green]
    assert found, "the best trial's marker is not on the screenshot"
    xs, ys = [x for x, _ in found], [y for _, y in found]
    # One filled circle of radius 9 (inside its 2px stroke): a blob about 16px across, nothing else.
    assert 8 <= max(xs) - min(xs) <= 20 and 8 <= max(ys) - min(ys) <= 20, (min(xs), max(xs), min(ys), max(ys))


def _finished_tuning_job(service: Any, sdist: Path) -> dict[str, Any]:
    ml = ml_client(service.api_endpoint)
    job_id = unique("page")
    spec = {"goal": "MAXIMIZE", "algorithm": "GRID_SEARCH", "maxTrials": 5, "maxParallelTrials": 2,
            "params": [{"parameterName": "x", "type": "INTEGER", "minValue": 1, "maxValue": 5}]}
    body = make_job(job_id, upload(service.storage_endpoint, sdist), ["--mode", "hp", "--kind", "c"],
                    hyperparameters=spec)
    ml.projects().jobs().create(parent="projects/local-project", body=body).execute()
    return wait_for(ml, "local-project", job_id, limit=120)


def test_service_page_renders_the_real_job_in_chromium(
    chromium: str, tmp_path: Path, local_service: Any, trainer_sdist: Path
) -> None:
    job = _finished_tuning_job(local_service, trainer_sdist)
    assert job["state"] == "SUCCEEDED", job.get("errorMessage")
    trial_ids = sorted(t["trialId"] for t in job["trainingOutput"]["trials"])
    assert len(trial_ids) == 5
    best = best_trial(job)
    assert best is not None and best["hyperparameters"] == {"x": "3"}  # -(x-3)**2 + 5 peaks at x=3

    url = f"{local_service.api_endpoint}/console/jobs/{job['jobId']}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
    dom = run_chromium(chromium, tmp_path, "--dump-dom", url).stdout

    assert f"Training job {job['jobId']}" in dom
    points = re.findall(r'<circle class="trial-point[^"]*" data-trial-id="([^"]+)"', dom)
    assert sorted(points) == trial_ids  # one point per trial
    assert _marked_best(dom) == (best["trialId"], best["trialId"])
    assert f"best: trial {best['trialId']} = 5</text>" in dom
    assert "5 of 5 trials succeeded, 0 failed" in dom
