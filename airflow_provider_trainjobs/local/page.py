"""The local service's job console page (``GET /console/jobs/<jobId>``): one self-contained HTML page.

Inline CSS and SVG only (no scripts, no forms, no external assets: the service's CSP allows none of them),
so it works offline and in any browser; every value from the job or its logs is HTML-escaped because job
ids, args and logs are user data. The log tail's replica and trial filters are links.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from airflow_provider_trainjobs.local.chart import chart, fmt, is_best, objective, trial_sort_key
from airflow_provider_trainjobs.local.index_page import airflow_link
from airflow_provider_trainjobs.local.page_style import badge, shell, url
from airflow_provider_trainjobs.spec.results import DEFAULT_METRIC_TAG, best_trial

TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
REFRESH_SECONDS = 5
LOG_LINES = 200


@dataclass
class LogFilter:
    """The log tail's filter (empty: everything) and the replicas and trials it can be narrowed to."""

    project: str = "local-project"
    replica: str = ""
    trial: str = ""
    replicas: list[str] = field(default_factory=list)
    trials: list[str] = field(default_factory=list)


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


def _meta(job: dict[str, Any], now: datetime, airflow_url: str) -> str:
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
    link = airflow_link(job.get("labels") or {}, airflow_url)
    if link:
        body += f"<tr><th>Airflow task</th><td>{link}</td></tr>"
    return f'<table class="meta">{body}</table>'


def _trials_table(trials: Sequence[dict[str, Any]], best: dict[str, Any] | None) -> str:
    rows = []
    for trial in trials:
        params = ", ".join(f"{k}={v}" for k, v in sorted((trial.get("hyperparameters") or {}).items()))
        value = objective(trial)
        marked = is_best(trial, best)
        rows.append(
            f'<tr class="{"best" if marked else "trial"}" data-trial-id="{escape(str(trial.get("trialId", "")))}">'
            f"<td>{escape(str(trial.get('trialId', '')))}{' ★' if marked else ''}</td>"
            f"<td>{escape(str(trial.get('state', '')))}</td>"
            f"<td>{escape(params)}</td>"
            f"<td>{escape(fmt(value)) if value is not None else '—'}</td>"
            f"<td>{escape(str((trial.get('finalMetric') or {}).get('trainingStep', '')))}</td>"
            f"<td>{'yes' if trial.get('isTrialStoppedEarly') else ''}</td></tr>"
        )
    head = "<tr><th>Trial</th><th>State</th><th>Hyperparameters</th><th>Objective</th><th>Step</th>" \
        "<th>Stopped early</th></tr>"
    return f'<table class="trials">{head}{"".join(rows)}</table>'


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


def _filter_links(job_id: str, log_filter: LogFilter) -> str:
    """Links narrowing the log tail to one replica or one trial (keeping the other choice)."""
    path = "/console/jobs/" + quote(job_id, safe="")
    rows = []
    for name, chosen, choices, other in (
        ("replica", log_filter.replica, log_filter.replicas, {"trial": log_filter.trial}),
        ("trial", log_filter.trial, log_filter.trials, {"replica": log_filter.replica}),
    ):
        if not choices:
            continue
        links = ["<b>all</b>" if not chosen else
                 f'<a href="{url(path, project=log_filter.project, **other)}">all</a>']
        for choice in choices:
            query = {**other, name: choice}
            links.append(f"<b>{escape(choice)}</b>" if choice == chosen else
                         f'<a class="{name}-filter" href="{url(path, project=log_filter.project, **query)}">'
                         f"{escape(choice)}</a>")
        rows.append(f'<div class="filters" id="{name}-filters">{name.capitalize()}: {" ".join(links)}</div>')
    return "".join(rows)


def render_job_page(job: dict[str, Any], log_entries: Sequence[dict[str, Any]], *,
                    log_filter: LogFilter | None = None, airflow_url: str = "") -> str:
    """A complete HTML page for one ml v1 Job: state, timing, spec, last log lines and tuning trials."""
    now = datetime.now(UTC)
    job_id = str(job.get("jobId", ""))
    state = str(job.get("state", "STATE_UNSPECIFIED"))
    training_input = job.get("trainingInput") or {}
    output = job.get("trainingOutput") or {}
    hp_spec = training_input.get("hyperparameters") or {}
    goal = str(hp_spec.get("goal") or "MAXIMIZE")
    tag = str(output.get("hyperparameterMetricTag") or hp_spec.get("hyperparameterMetricTag")
              or DEFAULT_METRIC_TAG)
    log_filter = log_filter or LogFilter()

    body = [
        f"<h1>Training job {escape(job_id)}</h1>",
        f"<p>{badge(state, 'state')}</p>",
        _meta(job, now, airflow_url),
    ]
    if job.get("errorMessage"):
        body.append(f'<h2>Error</h2><div class="error" id="error">{escape(str(job["errorMessage"]))}</div>')

    if output.get("isHyperparameterTuningJob") or hp_spec:
        trials = sorted(output.get("trials") or [], key=trial_sort_key)
        # The same pick as the operators' XCom best_trial: the best SUCCEEDED trial by the job's goal.
        best = best_trial(job)
        failed = sum(1 for t in trials if t.get("state") == "FAILED")
        summary = (f"{output.get('completedTrialCount', '0')} of {hp_spec.get('maxTrials', 1)} trials succeeded"
                   f", {failed} failed")
        if best is not None:
            summary += f"; best {tag} = {fmt(objective(best) or 0.0)} (trial {best.get('trialId')}, {goal.lower()})"
        body += [
            "<h2>Hyperparameter tuning</h2>",
            f'<p id="tuning-summary">{escape(summary)}</p>',
            chart(trials, best, tag, goal),
            _trials_table(trials, best),
        ]

    body.append("<h2>Training input</h2>")
    body.append(f'<pre id="spec">{escape(json.dumps(training_input, indent=2, sort_keys=True))}</pre>')
    tail = list(log_entries)[-LOG_LINES:]
    narrowed = "".join(f", {name} {escape(value)}" for name, value in
                       (("replica", log_filter.replica), ("trial", log_filter.trial)) if value)
    body.append(f"<h2>Logs (last {len(tail)} lines{narrowed})</h2>")
    body.append(_filter_links(job_id, log_filter))
    lines = "\n".join(_log_line(e) for e in tail) if tail else "No log entries yet."
    body.append(f'<pre id="logs">{lines}</pre>')
    refresh = None if state in TERMINAL_STATES else REFRESH_SECONDS
    return shell(f"{job_id} — {state}", "".join(body), refresh=refresh)
