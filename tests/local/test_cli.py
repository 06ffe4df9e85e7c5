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


def test_down_never_signals_a_process_that_is_not_the_service(tmp_path: Path) -> None:
    data_dir = tmp_path / "svc"
    data_dir.mkdir()
    stranger = subprocess.Popen(["sleep", "60"])  # holds the pid a stale service.json names
    try:
        (data_dir / "service.json").write_text(
            json.dumps({"pid": stranger.pid, "port": _port(), "storage_port": _port()}))
        (data_dir / "service.pid").write_text(str(stranger.pid))

        down = _cli("down", "--data-dir", str(data_dir))

        assert down.returncode == 0 and "not running" in down.stdout and "left alone" in down.stdout
        assert stranger.poll() is None, "down signalled a process that is not the service"
        assert not (data_dir / "service.json").exists() and not (data_dir / "service.pid").exists()
    finally:
        stranger.kill()
        stranger.wait()


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "airflow_provider_trainjobs.local", "serve", *args],
                          capture_output=True, text=True, timeout=60)  # a hang guard: it must exit at once


def test_serve_exits_with_one_line_naming_the_option_when_a_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        for option, ports in (("--port", [str(taken), str(_port())]), ("--storage-port", [str(_port()), str(taken)])):
            done = _serve("--data-dir", str(tmp_path / option.strip("-")), "--port", ports[0],
                          "--storage-port", ports[1])
            assert done.returncode == 1, done.stdout
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and f"{option} {taken}" in lines[0], done.stderr
            assert "AIRFLOW_CONN" not in done.stdout  # never reported ready


def test_up_does_not_take_another_server_on_the_port_for_its_service(tmp_path: Path) -> None:
    import http.server
    import threading

    class Healthy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            body = b'{"status": "ok"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    other = http.server.HTTPServer(("127.0.0.1", 0), Healthy)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        port = other.server_address[1]
        up = _cli("up", "--data-dir", str(tmp_path / "svc"), "--port", str(port), "--storage-port", str(_port()))
        assert up.returncode == 1, up.stdout
        assert f"--port {port}" in up.stderr and "is up" not in up.stdout
        assert not (tmp_path / "svc" / "service.json").exists()
    finally:
        _cli("down", "--data-dir", str(tmp_path / "svc"))
        other.shutdown()
        other.server_close()


def test_a_second_service_on_the_same_data_dir_exits_and_leaves_the_first_ones_jobs_alone(
        tmp_path: Path, trainer_sdist: Path) -> None:
    from support import process_alive, wait_for_file

    from airflow_provider_trainjobs.local.launcher import serving

    data_dir = tmp_path / "data"
    pid_file = tmp_path / "pids.json"
    with serving(data_dir) as first:
        ml = ml_client(first.api_endpoint)
        job_id = f"shared_{_port()}"
        ml.projects().jobs().create(parent="projects/local-project", body=make_job(
            job_id, upload(first.storage_endpoint, trainer_sdist),
            ["--mode", "sleep", "--pid-file", str(pid_file)])).execute()
        pids = wait_for_file(pid_file)
        wait_for(ml, "local-project", job_id, lambda j: j["state"] == "RUNNING")

        second = _serve("--data-dir", str(data_dir), "--port", str(_port()), "--storage-port", str(_port()))

        assert second.returncode == 1, second.stdout
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "--data-dir" in lines[0] and f"pid {first.proc.pid}" in lines[0], second.stderr
        assert "AIRFLOW_CONN" not in second.stdout
        job = ml.projects().jobs().get(name=f"projects/local-project/jobs/{job_id}").execute()
        assert job["state"] == "RUNNING" and all(process_alive(p) for p in pids)
        ml.projects().jobs().cancel(name=f"projects/local-project/jobs/{job_id}", body={}).execute()
        assert wait_for(ml, "local-project", job_id)["state"] == "CANCELLED"
