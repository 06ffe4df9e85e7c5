"""The local service's job console page (``GET /console/jobs/<jobId>``): one self-contained HTML page.

Inline CSS and SVG only (no scripts, no external assets) so it works offline and in any browser;
every value from the job or its logs is HTML-escaped because job ids, args and logs are user data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from airflow_provider_trainjobs.spec.results import DEFAULT_METRIC_TAG, best_trial

TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
REFRESH_SECONDS = 5
LOG_LINES = 50

STATE_COLOURS = {
    "SUCCEEDED": "#1e8e3e",
    "FAILED": "#d93025",
    "CANCELLED": "#5f6368",
    "CANCELLING": "#e8710a",
    "RUNNING": "#1a73e8",
    "PREPARING": "#f9ab00",
    "QUEUED": "#f9ab00",
}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#202124;background:#fff}
h1{font-size:22px;margin:0 0 12px;word-break:break-all}
h2{font-size:17px;margin:24px 0 8px;border-bottom:1px solid #dadce0;padding-bottom:4px}
.badge{display:inline-block;padding:3px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #dadce0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f4}
table.meta th{width:140px}
tr.best td{background:#e6f4ea;font-weight:600}
pre{background:#f8f9fa;border:1px solid #dadce0;padding:10px;font-size:12px;overflow:auto;max-height:420px;
white-space:pre-wrap;word-break:break-all}
.error{background:#fce8e6;border:1px solid #d93025;color:#a50e0e;padding:8px 12px;white-space:pre-wrap}
.sev-ERROR,.sev-CRITICAL{color:#a50e0e}.sev-WARNING{color:#b06000}
svg text{font-family:system-ui,sans-serif}
"""


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _objective(trial: dict[str, Any]) -> float | None:
    """The trial's finalMetric as a number for display (any state); which trial is best is spec's call."""
    value: Any = (trial.get("finalMetric") or {}).get("objectiveValue")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _trial_sort_key(trial: dict[str, Any]) -> tuple[int, str]:
    trial_id = str(trial.get("trialId", ""))
    return (int(trial_id), "") if trial_id.isdigit() else (1 << 30, trial_id)


def _is_best(trial: dict[str, Any], best: dict[str, Any] | None) -> bool:
    return best is not None and str(trial.get("trialId")) == str(best.get("trialId"))


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _meta(job: dict[str, Any], now: datetime) -> str:
    created, started, ended = (_parse_time(job.get(k)) for k in ("createTime", "startTime", "endTime"))
    if started:
        took = _duration(((ended or now) - started).total_seconds())
        duration = took if ended else f"{took} (running)"
    else:
        duration = "not started"
    rows = [
        ("Created", job.get("createTime") or "—"),
        ("Started", job.get("startTime") or "—"),
        ("Ended", job.get("endTime") or "—"),
        ("Duration", duration),
    ]
    if job.get("labels"):
        rows.append(("Labels", ", ".join(f"{k}={v}" for k, v in sorted(job["labels"].items()))))
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    return f'<table class="meta">{body}</table>'


def _trials_table(trials: Sequence[dict[str, Any]], best: dict[str, Any] | None) -> str:
    rows = []
    for trial in trials:
        params = ", ".join(f"{k}={v}" for k, v in sorted((trial.get("hyperparameters") or {}).items()))
        objective = _objective(trial)
        is_best = _is_best(trial, best)
        rows.append(
            f'<tr class="{"best" if is_best else "trial"}" data-trial-id="{escape(str(trial.get("trialId", "")))}">'
            f"<td>{escape(str(trial.get('trialId', '')))}{' ★' if is_best else ''}</td>"
            f"<td>{escape(str(trial.get('state', '')))}</td>"
            f"<td>{escape(params)}</td>"
            f"<td>{escape(_fmt(objective)) if objective is not None else '—'}</td>"
            f"<td>{escape(str((trial.get('finalMetric') or {}).get('trainingStep', '')))}</td>"
            f"<td>{'yes' if trial.get('isTrialStoppedEarly') else ''}</td></tr>"
        )
    head = "<tr><th>Trial</th><th>State</th><th>Hyperparameters</th><th>Objective</th><th>Step</th>" \
        "<th>Stopped early</th></tr>"
    return f'<table class="trials">{head}{"".join(rows)}</table>'


def _chart(trials: Sequence[dict[str, Any]], best: dict[str, Any] | None, tag: str, goal: str) -> str:
    """An SVG scatter of objective per trial id; the best trial is a larger, labelled, green point."""
    points = [(t, _trial_sort_key(t)[0], _objective(t)) for t in trials]
    plotted = [(t, x, y) for t, x, y in points if y is not None and x < (1 << 30)]
    if not plotted:
        return "<p>No trial has reported an objective yet.</p>"
    width, height, left, right, top, bottom = 760, 320, 70, 30, 30, 50
    xs = [x for _, x, _ in plotted]
    ys = [y for _, _, y in plotted if y is not None]
    x_lo, x_hi = min(xs), max(xs)
    y_lo, y_hi = min(ys), max(ys)
    if x_lo == x_hi:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    if y_lo == y_hi:
        y_lo, y_hi = y_lo - 1, y_hi + 1
    pad = (y_hi - y_lo) * 0.08
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def sx(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * (width - left - right)

    def sy(y: float) -> float:
        return top + (y_hi - y) / (y_hi - y_lo) * (height - top - bottom)

    parts = [
        f'<svg id="trials-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="objective per trial">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#5f6368"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#5f6368"/>',
    ]
    for i in range(5):
        value = y_lo + (y_hi - y_lo) * i / 4
        y = sy(value)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eceff1"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{_fmt(value)}</text>')
    step = max(1, math.ceil((x_hi - x_lo) / 10))
    for x in range(math.ceil(x_lo), math.floor(x_hi) + 1, step):
        parts.append(
            f'<text x="{sx(x):.1f}" y="{height - bottom + 16}" font-size="11" text-anchor="middle">{x}</text>'
        )
    parts.append(
        f'<text x="{(left + width - right) / 2}" y="{height - 10}" font-size="12" text-anchor="middle">trial</text>'
        f'<text x="16" y="{(top + height - bottom) / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 16 {(top + height - bottom) / 2})">{escape(tag)} ({escape(goal.lower())})</text>'
    )
    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for _, x, y in plotted if y is not None)
    parts.append(f'<polyline points="{path}" fill="none" stroke="#aecbfa" stroke-width="1.5"/>')
    for trial, x, y in plotted:
        assert y is not None
        if _is_best(trial, best):
            continue
        colour = "#1a73e8" if trial.get("state") in (None, "SUCCEEDED") else "#9aa0a6"
        # A trial stopped early is drawn hollow: its objective is an intermediate value.
        fill = "#fff" if trial.get("isTrialStoppedEarly") else colour
        note = " (stopped early)" if trial.get("isTrialStoppedEarly") else ""
        parts.append(
            f'<circle class="trial-point" data-trial-id="{escape(str(trial.get("trialId")))}" cx="{sx(x):.1f}" '
            f'cy="{sy(y):.1f}" r="5" fill="{fill}" stroke="{colour}" stroke-width="2">'
            f'<title>trial {escape(str(trial.get("trialId")))}: {_fmt(y)}{note}</title></circle>'
        )
    if best is not None and any(_is_best(t, best) for t, _, _ in plotted):
        bx, by = sx(_trial_sort_key(best)[0]), sy(_objective(best) or 0.0)
        label = f"best: trial {best.get('trialId')} = {_fmt(_objective(best) or 0.0)}"
        anchor = "end" if bx > width / 2 else "start"
        dx = -12 if anchor == "end" else 12
        label_y = by + 18 if by < top + 20 else by - 10
        parts.append(
            f'<circle class="trial-point best-trial" data-trial-id="{escape(str(best.get("trialId")))}" '
            f'cx="{bx:.1f}" cy="{by:.1f}" r="9" fill="#1e8e3e" stroke="#0b5327" stroke-width="2">'
            f"<title>{escape(label)}</title></circle>"
            f'<text id="best-label" x="{bx + dx:.1f}" y="{label_y:.1f}" font-size="13" font-weight="bold" '
            f'fill="#0b5327" text-anchor="{anchor}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _log_line(entry: dict[str, Any]) -> str:
    payload = entry.get("textPayload")
    if payload is None:
        json_payload = entry.get("jsonPayload") or {}
        payload = json_payload.get("message", json.dumps(json_payload)) if json_payload else entry.get("message", "")
    severity = str(entry.get("severity", "DEFAULT"))
    labels = {**((entry.get("resource") or {}).get("labels") or {}), **(entry.get("labels") or {})}
    task = labels.get("ml.googleapis.com/task_name") or labels.get("task_name") or ""
    trial = labels.get("ml.googleapis.com/trial_id") or labels.get("trial_id")
    where = f"{task} trial {trial}" if trial else str(task)
    prefix = " ".join(p for p in (str(entry.get("timestamp", "")), severity, where) if p)
    return f'<span class="sev-{escape(severity)}">{escape(prefix)}  {escape(str(payload).rstrip())}</span>'


def render_job_page(job: dict[str, Any], log_entries: Sequence[dict[str, Any]]) -> str:
    """A complete HTML page for one ml v1 Job: state, timing, spec, last log lines and tuning trials."""
    now = datetime.now(UTC)
    job_id = str(job.get("jobId", ""))
    state = str(job.get("state", "STATE_UNSPECIFIED"))
    colour = STATE_COLOURS.get(state, "#5f6368")
    training_input = job.get("trainingInput") or {}
    output = job.get("trainingOutput") or {}
    hp_spec = training_input.get("hyperparameters") or {}
    goal = str(hp_spec.get("goal") or "MAXIMIZE")
    tag = str(output.get("hyperparameterMetricTag") or hp_spec.get("hyperparameterMetricTag")
              or DEFAULT_METRIC_TAG)

    refresh = "" if state in TERMINAL_STATES else f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
    body = [
        f"<h1>Training job {escape(job_id)}</h1>",
        f'<p><span class="badge" id="state" style="background:{colour}">{escape(state)}</span></p>',
        _meta(job, now),
    ]
    if job.get("errorMessage"):
        body.append(f'<h2>Error</h2><div class="error" id="error">{escape(str(job["errorMessage"]))}</div>')

    if output.get("isHyperparameterTuningJob") or hp_spec:
        trials = sorted(output.get("trials") or [], key=_trial_sort_key)
        # The same pick as the operators' XCom best_trial: the best SUCCEEDED trial by the job's goal.
        best = best_trial(job)
        failed = sum(1 for t in trials if t.get("state") == "FAILED")
        summary = (f"{output.get('completedTrialCount', '0')} of {hp_spec.get('maxTrials', 1)} trials succeeded"
                   f", {failed} failed")
        if best is not None:
            summary += f"; best {tag} = {_fmt(_objective(best) or 0.0)} (trial {best.get('trialId')}, {goal.lower()})"
        body += [
            "<h2>Hyperparameter tuning</h2>",
            f'<p id="tuning-summary">{escape(summary)}</p>',
            _chart(trials, best, tag, goal),
            _trials_table(trials, best),
        ]

    body.append("<h2>Training input</h2>")
    body.append(f'<pre id="spec">{escape(json.dumps(training_input, indent=2, sort_keys=True))}</pre>')
    tail = list(log_entries)[-LOG_LINES:]
    body.append(f"<h2>Logs (last {len(tail)} lines)</h2>")
    lines = "\n".join(_log_line(e) for e in tail) if tail else "No log entries yet."
    body.append(f'<pre id="logs">{lines}</pre>')

    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"{refresh}<title>{escape(job_id)} — {escape(state)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
