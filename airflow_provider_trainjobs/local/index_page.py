"""The console's job index (``GET /console``): one page of jobs with state, age, labels and links.

Filters are links (the pages submit no form): a state, a label (``label=key:value``), and the page token of
the store's keyset paging, so a page costs its own rows whatever the number of jobs before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from airflow_provider_trainjobs.local.page_style import badge, shell, url

STATES = ("QUEUED", "PREPARING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING", "CANCELLED")
DAG_LABEL, TASK_LABEL, RUN_LABEL = "airflow_dag_id", "airflow_task_id", "airflow_run_id"  # operators/_common.py


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def age(created: Any, now: datetime) -> str:
    """``3m``, ``2h``, ``5d``: how long ago ``created`` was (``—`` when unknown)."""
    when = _parse(created)
    if when is None:
        return "—"
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def kind(job: dict[str, Any]) -> str:
    vertex = job.get("vertex") or {}
    if vertex.get("kind") == "hyperparameterTuningJobs":
        return "Vertex tuning"
    if vertex:
        return "Vertex custom"
    return "ml v1 tuning" if (job.get("trainingInput") or {}).get("hyperparameters") else "ml v1"


def airflow_link(labels: dict[str, str], airflow_url: str) -> str:
    """A link to the Airflow task the labels name (its page lists its runs), or ''.

    The run id label is sanitised (lowercase, ``:``/``+`` replaced: naming.py), so it cannot rebuild the
    exact run id of the URL; it is shown as text beside the link instead.
    """
    dag, task = labels.get(DAG_LABEL), labels.get(TASK_LABEL)
    if not (airflow_url and dag and task):
        return ""
    href = f"{airflow_url.rstrip('/')}/dags/{quote(dag, safe='')}/tasks/{quote(task, safe='')}"
    run = labels.get(RUN_LABEL)
    note = f' <span class="muted">run {escape(run)}</span>' if run else ""
    return f'<a class="airflow-link" href="{escape(href)}">{escape(dag)}.{escape(task)}</a>{note}'


def _labels(job: dict[str, Any], project: str, state: str) -> str:
    labels = job.get("labels") or {}
    return "".join(
        f'<a class="chip" href="{url("/console", project=project, state=state, label=f"{k}:{v}")}">'
        f"{escape(k)}={escape(v)}</a>"
        for k, v in sorted(labels.items())
    )


def _filters(project: str, state: str, label: str) -> str:
    links = [f'<a href="{url("/console", project=project, label=label)}">all</a>' if state else "<b>all</b>"]
    for name in STATES:
        links.append(f"<b>{name}</b>" if name == state else
                     f'<a class="state-filter" href="{url("/console", project=project, state=name, label=label)}">'
                     f"{name}</a>")
    parts = ['<div class="filters" id="state-filters">State: ' + " ".join(links) + "</div>"]
    if label:
        clear = url("/console", project=project, state=state)
        parts.append(f'<div class="filters" id="label-filter">Label: <span class="chip">{escape(label)}</span>'
                     f' <a href="{clear}">clear</a></div>')
    return "".join(parts)


def render_index(jobs: Sequence[dict[str, Any]], *, project: str, state: str = "", label: str = "",
                 next_token: str = "", first_page: bool = True, airflow_url: str = "") -> str:
    """The HTML index of one page of ``project``'s jobs (in creation order)."""
    now = datetime.now(UTC)
    rows = []
    for job in jobs:
        job_id = str(job.get("jobId", ""))
        job_state = str(job.get("state", ""))
        rows.append(
            f'<tr class="job" data-job-id="{escape(job_id)}">'
            f'<td><a href="{url("/console/jobs/" + quote(job_id, safe=""), project=project)}">{escape(job_id)}</a></td>'
            f"<td>{escape(kind(job))}</td><td>{badge(job_state)}</td>"
            f'<td title="{escape(str(job.get("createTime", "")))}">{age(job.get("createTime"), now)}</td>'
            f"<td>{_labels(job, project, state)}</td>"
            f"<td>{airflow_link(job.get('labels') or {}, airflow_url)}</td></tr>"
        )
    head = "<tr><th>Job</th><th>Kind</th><th>State</th><th>Age</th><th>Labels</th><th>Airflow task</th></tr>"
    table = (f'<table class="wide" id="jobs">{head}{"".join(rows)}</table>' if rows else
             '<p id="no-jobs">No job matches.</p>')
    pager = []
    if not first_page:
        pager.append(f'<a id="first-page" href="{url("/console", project=project, state=state, label=label)}">'
                     "« first page</a>")
    if next_token:
        pager.append(f'<a id="next-page" href="{url("/console", project=project, state=state, label=label, after=next_token)}">'
                     "next page »</a>")
    body = (f"<h1>Training jobs in {escape(project)}</h1>{_filters(project, state, label)}{table}"
            f'<p class="filters">{" ".join(pager)}</p>')
    return shell(f"Jobs — {project}", body)
