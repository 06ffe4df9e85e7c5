"""Count the requests N waiting ``TrainingJobTrigger``s send in one asyncio loop (as a triggerer runs them).

Starts a real ``trainjobs-local serve`` in a temporary data dir (``--max-concurrent-jobs 2``: the other jobs
wait QUEUED, which costs a poller the same), creates N jobs whose trainer prints a line every few seconds,
runs N triggers at the default poll interval for ``--seconds``, and prints the poller's request counts
(``hooks.poller.REQUESTS``) as JSON. The service's ``entries:list`` reads the poller's OR filter over job ids
as Cloud Logging does; ``--or-logs`` instead puts a small proxy in front of it that asks the service job by
job (how the counts were taken before the service read OR filters). Usage::

    .venv/bin/python scripts/poller_requests.py --jobs 100 --seconds 60 [--no-logs | --or-logs]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from airflow_provider_trainjobs.local.launcher import serving

PROJECT = "local-project"
TRAINER = "import time\nfor i in range(60):\n    print(f'step {i}', flush=True)\n    time.sleep(5)\n"


def sdist(work: Path) -> Path:
    src = work / "src"
    (src / "quiet").mkdir(parents=True)
    (src / "quiet" / "__init__.py").write_text("")
    (src / "quiet" / "task.py").write_text(TRAINER)
    (src / "setup.py").write_text("from setuptools import setup\nsetup(name='quiet', version='0.1', packages=['quiet'])\n")
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(work / "dist")],
                   cwd=src, check=True, capture_output=True)
    return next((work / "dist").glob("*.tar.gz"))


@contextmanager
def or_logs(api_endpoint: str) -> Iterator[str]:
    """An entries:list endpoint on a free port that answers an OR filter over job ids (ignoring its times:
    the cursors drop what they already printed) by asking ``api_endpoint`` once per job."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            entries: list[Any] = []
            for job_id in dict.fromkeys(re.findall(r'resource\.labels\.job_id="([^"]+)"', body["filter"])):
                one = {**body, "filter": f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"'}
                request = urllib.request.Request(f"{api_endpoint}/v2/entries:list", data=json.dumps(one).encode(),
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310 - the local service
                    entries.extend(json.loads(answer.read()).get("entries") or [])
            data = json.dumps({"entries": sorted(entries, key=lambda e: e["timestamp"])}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


async def wait_for(triggers: list[Any], seconds: float) -> None:
    async def one(trigger: Any) -> None:
        async for _ in trigger.run():
            return

    tasks = [asyncio.ensure_future(one(t)) for t in triggers]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--no-logs", action="store_true", help="stream_logs=False on every trigger")
    parser.add_argument("--or-logs", action="store_true", help="answer OR log filters as Cloud Logging does")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trainjobs-poller-") as tmp, \
            serving(Path(tmp) / "data", "--max-concurrent-jobs", "2") as service, \
            (or_logs(service.api_endpoint) if args.or_logs else _same(service.api_endpoint)) as logging_endpoint:
        extras = {**service.conn_extras(), "logging_endpoint": logging_endpoint}
        os.environ["AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT"] = json.dumps({"conn_type": "trainjobs", "extra": extras})
        os.environ["STORAGE_EMULATOR_HOST"] = service.storage_endpoint
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        from airflow_provider_trainjobs.hooks.poller import REQUESTS
        from airflow_provider_trainjobs.hooks.training import TrainingJobHook
        from airflow_provider_trainjobs.triggers.training import TrainingJobTrigger

        package = sdist(Path(tmp))
        gcs = storage.Client(project=PROJECT, credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                             client_options={"api_endpoint": service.storage_endpoint})
        gcs.create_bucket("poller").blob(package.name).upload_from_filename(str(package))
        hook = TrainingJobHook()
        ids = [f"poller_{n:04d}" for n in range(args.jobs)]
        for job_id in ids:
            hook.create_job({"jobId": job_id, "trainingInput": {
                "scaleTier": "BASIC", "region": "us-central1", "pythonModule": "quiet.task",
                "packageUris": [f"gs://poller/{package.name}"]}})
        triggers = [TrainingJobTrigger(job_id, poll_interval=args.interval, stream_logs=not args.no_logs)
                    for job_id in ids]
        started = time.monotonic()
        asyncio.run(wait_for(triggers, args.seconds))
        elapsed = time.monotonic() - started
        counts = dict(REQUESTS)
        for job_id in ids:
            hook.cancel_job(job_id)
    per_minute = {k: round(v * 60 / elapsed, 1) for k, v in counts.items()}
    print(json.dumps({"jobs": args.jobs, "seconds": round(elapsed, 1), "stream_logs": not args.no_logs,
                      "or_logs": args.or_logs,
                      "requests": counts, "per_minute": per_minute,
                      "total_per_minute": round(sum(counts.values()) * 60 / elapsed, 1)}))


@contextmanager
def _same(endpoint: str) -> Iterator[str]:
    yield endpoint


if __name__ == "__main__":
    main()
