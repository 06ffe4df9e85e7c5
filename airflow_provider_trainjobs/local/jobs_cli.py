"""``trainjobs-local status / describe / logs / cancel``: what gcloud users reach for first.

``status`` reads the data dir (its service record and job database), so it also lists the jobs of a stopped
service; ``describe``, ``logs`` and ``cancel`` go through the running service's HTTP API (the ml v1 or
aiplatform v1 route the job was created on, and Cloud Logging ``entries:list``), as any client would.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_provider_trainjobs.local.control import PROJECT, running_service
from airflow_provider_trainjobs.local.index_page import age

NOT_RUNNING = 3  # exit status of `status` (and of the API commands) when no service runs on the data dir
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED",
                      "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"})


class CliError(Exception):
    """One line for stderr and the exit status that goes with it."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir).expanduser().resolve()


def _trials(job: dict[str, Any]) -> str:
    output = job.get("trainingOutput") or {}
    if not output.get("isHyperparameterTuningJob"):
        return ""
    total = ((job.get("trainingInput") or {}).get("hyperparameters") or {}).get("maxTrials") or 1
    return f"{output.get('completedTrialCount', '0')}/{total}"


def _stored_jobs(data_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    db = data_dir / "service.db"
    if not db.exists():
        return []
    from airflow_provider_trainjobs.local.store import Store

    store = Store(db)
    try:
        return list(store.jobs())
    finally:
        store.close()


def status_report(data_dir: Path) -> dict[str, Any]:
    """What ``status --json`` prints: the data dir, whether (and where) its service runs, and its jobs."""
    state = running_service(data_dir)
    now = datetime.now(UTC)
    report: dict[str, Any] = {"data_dir": str(data_dir), "running": state is not None}
    if state is not None:
        report.update(pid=state["pid"], api_endpoint=f"http://127.0.0.1:{state['port']}",
                      storage_endpoint=f"http://127.0.0.1:{state['storage_port']}")
    report["jobs"] = [
        {"project": project, "jobId": job["jobId"], "state": job.get("state", ""),
         "createTime": job.get("createTime", ""), "age": age(job.get("createTime"), now),
         "trials": _trials(job), "labels": job.get("labels") or {}}
        for project, job in _stored_jobs(data_dir)
    ]
    return report


def _table(report: dict[str, Any]) -> str:
    lines = [f"data dir: {report['data_dir']}"]
    if report["running"]:
        lines.append(f"service:  running (pid {report['pid']}), API {report['api_endpoint']},"
                     f" storage {report['storage_endpoint']}")
    else:
        lines.append("service:  not running (start it: trainjobs-local up)")
    if not report["jobs"]:
        lines.append("no jobs")
        return "\n".join(lines)
    rows = [("PROJECT", "JOB_ID", "STATE", "AGE", "TRIALS")]
    rows += [(j["project"], j["jobId"], j["state"], j["age"], j["trials"]) for j in report["jobs"]]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def status(args: argparse.Namespace) -> int:
    """Print the report once, or every ``--watch`` seconds until interrupted; exit 3 when nothing runs."""
    data_dir = _data_dir(args)
    clear = args.watch is not None and not args.json and sys.stdout.isatty()
    try:
        while True:
            report = status_report(data_dir)
            text = json.dumps(report, sort_keys=True) if args.json else _table(report)
            print(("\033[H\033[2J" if clear else "") + text, flush=True)
            if args.watch is None:
                break
            if not args.json and not clear:
                print(flush=True)
            time.sleep(args.watch)
    except KeyboardInterrupt:
        pass
    return 0 if report["running"] else NOT_RUNNING


# --------------------------------------------------------------------------- the HTTP API commands
def _api(data_dir: Path) -> str:
    state = running_service(data_dir)
    if state is None:
        raise CliError(f"no service is running on --data-dir {data_dir}; start it with trainjobs-local up"
                       f" --data-dir {data_dir}", NOT_RUNNING)
    return f"http://127.0.0.1:{state['port']}"


def _call(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return dict(json.loads(resp.read() or b"{}"))
    except urllib.error.HTTPError as err:
        try:
            message = json.loads(err.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = err.reason
        raise CliError(f"{err.code}: {message}") from None
    except (OSError, ValueError) as err:
        raise CliError(f"the service at {url.split('/v')[0]} did not answer: {err}") from None


def _find(data_dir: Path, project: str, name: str) -> tuple[str, dict[str, Any]]:
    """(resource path, stored record) of the job ``name``: an ml v1 jobId or Vertex id, else the newest Vertex
    job whose displayName or ``trainjobs_job_id`` label is ``name`` (what the provider submits)."""
    found: dict[str, Any] | None = None
    for proj, job in _stored_jobs(data_dir):
        if proj != project:
            continue
        vertex = job.get("vertex") or {}
        if job["jobId"] == name:
            found = job
            break
        if vertex and name in ((job.get("labels") or {}).get("trainjobs_job_id"),
                               (vertex.get("request") or {}).get("displayName")):
            found = job
    if found is None:
        raise CliError(f"job {name!r}: no such job in project {project} on --data-dir {data_dir}"
                       " (trainjobs-local status lists them)")
    vertex = found.get("vertex") or {}
    path = f"/v1/{vertex['name']}" if vertex.get("name") else f"/v1/projects/{project}/jobs/{found['jobId']}"
    return path, found


def describe(args: argparse.Namespace) -> int:
    """Print the job resource as the API returns it (YAML like gcloud's describe, or ``--json``)."""
    data_dir = _data_dir(args)
    api = _api(data_dir)
    path, _ = _find(data_dir, args.project, args.job)
    resource = _call(api + path)
    if args.json:
        print(json.dumps(resource, indent=2, sort_keys=True))
    else:
        import yaml

        print(yaml.safe_dump(resource, sort_keys=True, default_flow_style=False).rstrip())
    return 0


def cancel(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args)
    api = _api(data_dir)
    path, record = _find(data_dir, args.project, args.job)
    _call(api + path + ":cancel", {})
    print(f"cancel requested for job {record['jobId']}", file=sys.stderr)
    return 0


def _line(entry: dict[str, Any]) -> str:
    labels = entry.get("labels") or {}
    where = labels.get("task_name", "")
    if labels.get("trial_id"):
        where += f" trial {labels['trial_id']}"
    message = (entry.get("jsonPayload") or {}).get("message", entry.get("textPayload", ""))
    return f"{entry.get('timestamp', '')} {entry.get('severity', 'DEFAULT'):<8} {where}  {message}".rstrip()


def _print_entries(api: str, project: str, job_id: str, terms: list[str], after: str | None) -> str | None:
    """Print every entry (after ``after``) page by page; the last timestamp printed."""
    query = " AND ".join([*terms] + ([f'timestamp>"{after}"'] if after else []))
    token: str | None = None
    while True:
        body: dict[str, Any] = {"resourceNames": [f"projects/{project}"], "filter": query,
                                "orderBy": "timestamp asc", "pageSize": 1000}
        if token:
            body["pageToken"] = token
        page = _call(api + "/v2/entries:list", body)
        for entry in page.get("entries") or []:
            print(_line(entry), flush=True)
            after = str(entry.get("timestamp") or after)
        token = page.get("nextPageToken")
        if not token:
            return after


def logs(args: argparse.Namespace) -> int:
    """Print the job's log; with ``--follow``, keep printing new lines until the job ends."""
    data_dir = _data_dir(args)
    api = _api(data_dir)
    path, record = _find(data_dir, args.project, args.job)
    job_id = record["jobId"]
    terms = ['resource.type="ml_job"', f'resource.labels.job_id="{job_id}"']
    for option, value in (("--replica", args.replica), ("--trial", args.trial)):
        if value is not None and (not value or any(c in value for c in '"\\\n')):
            raise CliError(f"{option} {value!r}: must be a non-empty name without quotes, backslashes or newlines")
    if args.replica:
        terms.append(f'labels.task_name="{args.replica}"')
    if args.trial:
        terms.append(f'labels.trial_id="{args.trial}"')
    try:
        after = _print_entries(api, args.project, job_id, terms, None)
        while args.follow:
            state = str(_call(api + path).get("state", ""))
            after = _print_entries(api, args.project, job_id, terms, after)
            if state in TERMINAL:
                print(f"job {job_id} ended: {state}", file=sys.stderr)
                break
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    return 0


EXAMPLES = {
    "status": "examples:\n  trainjobs-local status\n  trainjobs-local status --json | jq '.jobs[].state'\n"
              "  trainjobs-local status --watch 5\n  trainjobs-local status || trainjobs-local up",
    "describe": "examples:\n  trainjobs-local describe census_train\n  trainjobs-local describe census_train --json",
    "logs": "examples:\n  trainjobs-local logs census_train\n  trainjobs-local logs census_tune --follow --trial 3\n"
            "  trainjobs-local logs census_train --replica master-replica-0",
    "cancel": "example:\n  trainjobs-local cancel census_train",
}


def add_commands(sub: Any, add_data_dir: Any) -> None:
    """The status/describe/logs/cancel subparsers (``add_data_dir(parser)`` adds ``--data-dir``)."""
    raw = argparse.RawDescriptionHelpFormatter
    cmd = sub.add_parser("status", help="the data dir, whether its service runs, and its jobs",
                         description="Show the data dir, whether its service runs (exit 3 when not) and"
                         " its jobs.", epilog=EXAMPLES["status"], formatter_class=raw)
    add_data_dir(cmd)
    cmd.add_argument("--json", action="store_true", help="one JSON object (with --watch: one per line)")
    cmd.add_argument("--watch", type=float, nargs="?", const=2.0, default=None, metavar="SECONDS",
                     help="print again every SECONDS (default 2) until Ctrl-C")
    for name, text in (("describe", "print a job as the API returns it (YAML)"),
                       ("logs", "print a job's log lines"),
                       ("cancel", "cancel a job through the service's API")):
        cmd = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".",
                             epilog=EXAMPLES[name], formatter_class=raw)
        cmd.add_argument("job", metavar="JOB", help="the job id (ml v1 jobId, Vertex id or display name)")
        add_data_dir(cmd)
        cmd.add_argument("--project", default=PROJECT, help=f"the job's project (default {PROJECT})")
        if name == "describe":
            cmd.add_argument("--json", action="store_true", help="JSON instead of YAML")
        if name == "logs":
            cmd.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
            cmd.add_argument("--replica", metavar="TASK", help="only this replica, e.g. master-replica-0")
            cmd.add_argument("--trial", metavar="ID", help="only this tuning trial")
