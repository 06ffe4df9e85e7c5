"""``trainjobs-local up/status/down`` as a user runs them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from support import make_job, ml_client, processes_gone, upload, wait_for


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow_provider_trainjobs.local", *args],
                          capture_output=True, text=True, timeout=120)


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_up_status_down(tmp_path: Path, trainer_sdist: Path) -> None:
    data_dir = tmp_path / "svc"
    port, storage_port = _port(), _port()
    up = _cli("up", "--data-dir", str(data_dir), "--port", str(port), "--storage-port", str(storage_port),
              "--max-concurrent-jobs", "1")
    pid = int((data_dir / "service.pid").read_text()) if (data_dir / "service.pid").exists() else 0
    try:
        assert up.returncode == 0, up.stderr
        line = next(x for x in up.stdout.splitlines() if x.startswith("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT="))
        conn = json.loads(line.split("=", 1)[1].strip("'"))
        assert conn["extra"]["api_endpoint"] == f"http://127.0.0.1:{port}"
        assert conn["extra"]["storage_endpoint"] == f"http://127.0.0.1:{storage_port}"
        assert conn["extra"]["project"] == "local-project" and conn["extra"]["backend"] == "ai-platform"

        ml = ml_client(conn["extra"]["api_endpoint"])
        uri = upload(conn["extra"]["storage_endpoint"], trainer_sdist)
        ml.projects().jobs().create(parent="projects/local-project",
                                    body=make_job("cli_job", uri, ["--mode", "fail"])).execute()
        wait_for(ml, "local-project", "cli_job")

        status = _cli("status", "--data-dir", str(data_dir))
        assert status.returncode == 0
        assert f"running: pid {pid}" in status.stdout
        row = next(x for x in status.stdout.splitlines() if "cli_job" in x)
        assert row.split()[:3] == ["local-project", "cli_job", "FAILED"]
    finally:
        down = _cli("down", "--data-dir", str(data_dir))
    assert down.returncode == 0 and "stopped" in down.stdout
    assert processes_gone([pid])
    assert not (data_dir / "service.pid").exists()
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
        answered = True
    except OSError:
        answered = False
    assert not answered
    assert "not running" in _cli("status", "--data-dir", str(data_dir)).stdout
